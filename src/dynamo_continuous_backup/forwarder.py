"""Forwarder Lambda entry point (handler string `dynamo_continuous_backup.forwarder.handler`):
parse the stream batch, forward it (capture/forwarder.py), shape the partial-batch response."""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from typing import Any

from .capture.forwarder import Forwarder, parse_event
from .capture.metrics import emf_lines
from .core.aws import DATA_PLANE, Clients
from .core.config import ENV_CONFIG, Config, config_from_env

log = logging.getLogger(__name__)

DEFAULT_DEADLINE = 60.0  # seconds, when invoked without a Lambda context


@functools.cache
def _default_forwarder(raw_config: str | None) -> Forwarder:
    config: Config = config_from_env()
    clients = Clients(config.region, config=DATA_PLANE)
    return Forwarder(
        clients.firehose, clients.s3, config.firehose_delivery_bucket, config.prefix, log_item_data=config.log_item_data
    )


def handler(event: dict[str, Any], context: Any, forwarder: Forwarder | None = None) -> dict[str, Any]:
    """Lambda entry point: returns the partial-batch response."""
    records = parse_event(event)
    if not records:
        return {"batchItemFailures": []}
    fwd = forwarder or _default_forwarder(os.environ.get(ENV_CONFIG))
    seconds = context.get_remaining_time_in_millis() / 1000 if context else DEFAULT_DEADLINE
    outcome = fwd.forward(records, seconds)
    log.info(
        "forwarded %d/%d records as %d Firehose records (%d bytes) in %d calls (%d oversize, %d retries)",
        outcome.delivered,
        len(records),
        outcome.firehose_records,
        outcome.firehose_bytes,
        outcome.put_calls,
        outcome.oversize,
        outcome.retries,
    )
    # EMF must be a whole line of the function's output, which Lambda's log formatting would wrap.
    sys.stdout.write("".join(line + "\n" for line in emf_lines(outcome, time.time())))
    sys.stdout.flush()
    if outcome.failed_from is None:
        return {"batchItemFailures": []}
    return {"batchItemFailures": [{"itemIdentifier": records[outcome.failed_from].sequence_number}]}
