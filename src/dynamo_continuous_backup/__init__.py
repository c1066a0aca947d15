"""dynamo-continuous-backup: continuous, queryable, restorable backup of DynamoDB tables in S3."""

from .config import Config, load_config
from .errors import BackupError, ConfigError, NotFoundError, NotProtectableError, UserInputError
from .provisioner import Provisioner, Result

__version__ = "0.1.0"
__all__ = [
    "BackupError",
    "Config",
    "ConfigError",
    "NotFoundError",
    "NotProtectableError",
    "Provisioner",
    "Result",
    "UserInputError",
    "__version__",
    "load_config",
]
