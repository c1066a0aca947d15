"""Every exception dynamo-continuous-backup raises on purpose; the CLI turns each into one
line on stderr and its `exit_code`.

BackupError                      base
├── ConfigError           (2)    the config or whitelist file is wrong (names the key and the fix)
├── UserInputError        (2)    a command-line argument or an event is wrong
│   └── UnrestorableError (2)    the time asked for is in no restorable span (names the nearest ones)
├── NotFoundError         (3)    a table, function, bucket or backup the command needs does not exist
│   └── TableNotFoundError (3)   ... a DynamoDB table (always this one, whoever finds it missing)
├── NotProtectableError   (1)    a table cannot be backed up without touching another consumer
├── WaitTimeoutError      (1)    a bounded wait ran out
├── CancelledError        (1)    a run stopped because `jobs cancel` asked it to (says how to resume)
└── AwsError              (1)    an AWS call failed; `code` and `operation` say which and how
    ├── AwsNotFoundError  (3)    AWS says the resource does not exist (also a NotFoundError)
    ├── ConflictError     (1)    in use, already exists, or changed meanwhile (often: someone else did it)
    ├── ThrottledError    (1)    still throttled after the retries
    ├── AccessDeniedError (1)    the identity lacks a permission, or its credentials are bad
    ├── QueryFailedError  (1)    an Athena query ended FAILED or CANCELLED (with Athena's reason)
    └── QuotaExceededError(1)    an AWS service quota is used up (names it, its limit, how to raise it)

Only core/aws.py makes AwsErrors out of botocore's exceptions.
"""

from __future__ import annotations


class BackupError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1


class ConfigError(BackupError):
    exit_code = 2


class UserInputError(BackupError):
    exit_code = 2


class UnrestorableError(UserInputError):
    """`before`/`after`: the nearest restorable times around the one asked for (None: none)."""

    def __init__(self, message: str, before: float | None = None, after: float | None = None) -> None:
        super().__init__(message)
        self.before, self.after = before, after


class NotFoundError(BackupError):
    exit_code = 3


class TableNotFoundError(NotFoundError):
    """One message for a missing table, wherever it is found missing."""

    def __init__(self, table: str, hint: str = "check the name and the region") -> None:
        super().__init__(f"table {table} does not exist: {hint}")
        self.table = table


class NotProtectableError(BackupError):
    exit_code = 1


class WaitTimeoutError(BackupError):
    exit_code = 1


class CancelledError(BackupError):
    """A run stopped at a consistent point on request; `run_id` names it for the resume."""

    exit_code = 1

    def __init__(self, message: str, run_id: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id


class AwsError(BackupError):
    """A failed AWS call. `fix`, when given, is the longer how-to the CLI prints once after its
    summary; `retryable` is True when waiting may help (throttling, 5xx, network)."""

    exit_code = 1

    def __init__(
        self, message: str, fix: str = "", code: str = "", operation: str = "", retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.fix = fix
        self.code = code
        self.operation = operation
        self.retryable = retryable


class AwsNotFoundError(AwsError, NotFoundError):
    exit_code = 3


class ConflictError(AwsError):
    pass


class ThrottledError(AwsError):
    pass


class AccessDeniedError(AwsError):
    pass


class QuotaExceededError(AwsError):
    pass


class QueryFailedError(AwsError):
    """An Athena query that ended FAILED or CANCELLED; `query_id` names it in Athena's history."""

    def __init__(self, message: str, query_id: str = "", state: str = "") -> None:
        super().__init__(message, code=state, operation="StartQueryExecution")
        self.query_id, self.state = query_id, state
