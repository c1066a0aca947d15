"""dynamo-continuous-backup: continuous, queryable, restorable backup of DynamoDB tables in S3.

The public surface is `__all__`; everything else is internal. Names load on first use, so
that a Lambda importing one handler loads only the part of the package it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.config import Config, load_config
    from .core.errors import BackupError, ConfigError, NotFoundError, NotProtectableError, UserInputError
    from .provisioning.provisioner import Provisioner, Result

__version__ = "0.1.0"

_WHERE = {
    "Config": "core.config",
    "load_config": "core.config",
    "BackupError": "core.errors",
    "ConfigError": "core.errors",
    "NotFoundError": "core.errors",
    "NotProtectableError": "core.errors",
    "UserInputError": "core.errors",
    "Provisioner": "provisioning.provisioner",
    "Result": "provisioning.provisioner",
}
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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
