"""Exception hierarchy of dynamo-continuous-backup.

BackupError                  base; the CLI turns any of these into one line and exit code
├── ConfigError              config or whitelist file is wrong (names the key and the fix)
├── UserInputError           a command-line argument is wrong
├── NotFoundError            a table, function or bucket the command needs does not exist
├── NotProtectableError      a table cannot be backed up without touching another consumer
├── WaitTimeoutError         a bounded wait ran out
└── AwsError                 an AWS call failed for a reason the user must act on
    └── QuotaExceededError   an AWS service quota is used up (names it, its limit, how to raise it)
"""

from __future__ import annotations


class BackupError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1


class ConfigError(BackupError):
    exit_code = 2


class UserInputError(BackupError):
    exit_code = 2


class NotFoundError(BackupError):
    exit_code = 3


class NotProtectableError(BackupError):
    exit_code = 1


class WaitTimeoutError(BackupError):
    exit_code = 1


class AwsError(BackupError):
    """`fix`, when given, is the longer how-to the CLI prints once after its summary."""

    exit_code = 1

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix


class QuotaExceededError(AwsError):
    exit_code = 1
