"""The CLI's own shape: every command has help."""

from __future__ import annotations

import pytest

from dynamo_continuous_backup.cli.main import COMMANDS, main


def test_every_command_has_help() -> None:
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
