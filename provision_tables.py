#!/usr/bin/env python3
"""Apply backup to the tables of an hjson whitelist. Usage: see --help."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from dynamo_continuous_backup.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["provision", *sys.argv[1:]]))
