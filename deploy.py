#!/usr/bin/env python3
"""Install dynamo-continuous-backup into an account: python deploy.py --config CONFIG [--dry-run]."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from dynamo_continuous_backup.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["deploy", *sys.argv[1:]]))
