"""EnsureDynamoBackup Lambda entry point (handler string
`dynamo_continuous_backup.ensure_backup.handler`): CloudTrail table events and the hourly
schedule -> provisioning/events.py."""

from __future__ import annotations

import functools
import os
from typing import Any

from .core.aws import Clients
from .core.config import ENV_CONFIG, Config, config_from_env
from .provisioning.events import handle
from .provisioning.optin import OptIn
from .provisioning.provisioner import Provisioner


@functools.cache
def _context(raw_config: str | None) -> tuple[Config, Clients, Provisioner, OptIn]:
    config = config_from_env()
    clients = Clients(config.region)
    return config, clients, Provisioner(clients, config), OptIn.from_config(config, strict=False)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    # Keyed by the config text, so a runtime hosting several functions never mixes them up.
    _, clients, provisioner, optin = _context(os.environ.get(ENV_CONFIG))
    return handle(event, provisioner, optin, clients)
