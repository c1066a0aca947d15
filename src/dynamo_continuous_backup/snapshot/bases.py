"""Is a table restorable? Only when a complete base (a snapshot run whose manifest, written last,
exists) was taken of its current incarnation and stream: the changes since then plus the base
give every item. Items written before capture began are in no change record.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from ..core import naming
from ..core.aws import Clients, read_object
from ..core.config import Config

log = logging.getLogger(__name__)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value or 0)


def belongs(manifest: dict[str, Any], stream_arn: str | None, created: float) -> bool:
    """A base counts for the current generation: taken on its stream (older manifests name
    none: then taken after the table's creation)."""
    if manifest.get("streamArn"):
        return bool(manifest["streamArn"] == stream_arn)
    return float(manifest.get("startTime", 0)) >= created


def find_base(clients: Clients, config: Config, table: str, description: dict[str, Any]) -> dict[str, Any] | None:
    """The newest complete base of the table's current generation, or None."""
    bucket = config.firehose_delivery_bucket
    prefix = naming.snapshots_prefix(config.prefix, table)
    runs: list[str] = []
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        runs += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    stream_arn = description.get("LatestStreamArn")
    created = _epoch(description.get("CreationDateTime"))
    for run in sorted(runs, reverse=True):  # run ids start with their UTC start time
        body = read_object(clients.s3, bucket, f"{run}manifest.json")
        if body is None:
            continue  # incomplete or running
        manifest: dict[str, Any] = json.loads(body)
        if belongs(manifest, stream_arn, created):
            return manifest
    return None


def backfill_command(table: str) -> str:
    return f"dynamo-backup backfill {table} --config <your config>"
