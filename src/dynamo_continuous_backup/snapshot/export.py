"""Backfill by PITR export: ExportTableToPointInTime writes the snapshot (no read capacity used),
then a manifest in the backfill's layout makes it a base restore can use."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ..core import naming
from ..core.aws import Clients, table_must_exist
from ..core.config import Config
from ..core.errors import AwsError, UserInputError
from ..core.retry import wait_until
from ..core.timeline_store import record_base
from .backfill import BackfillResult, new_run_id

# An export takes minutes to hours: poll after 0.5 s, doubling up to every 30 s.
POLL_FIRST = 0.5
POLL_MAX = 30.0


def export_snapshot(
    clients: Clients,
    config: Config,
    table: str,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 3600,
    clock: Callable[[], float] = time.monotonic,
) -> BackfillResult:
    """Snapshot with ExportTableToPointInTime (no read capacity used); needs PITR on the table."""
    started = time.monotonic()
    with table_must_exist(table):
        desc = clients.dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        described = clients.dynamodb.describe_table(TableName=table)["Table"]
    if (desc.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus") != "ENABLED":
        raise UserInputError(f"table {table} has point-in-time recovery off; enable it or backfill without --export")
    run_id = new_run_id()
    prefix = f"{naming.snapshots_prefix(config.prefix, table)}{run_id}/"
    export_time = time.time()
    export = clients.dynamodb.export_table_to_point_in_time(
        TableArn=described["TableArn"],
        S3Bucket=config.firehose_delivery_bucket,
        S3Prefix=prefix + "export",
        ExportFormat="DYNAMODB_JSON",
        ExportTime=export_time,
    )["ExportDescription"]
    if export["ExportStatus"] == "IN_PROGRESS":
        arn = export["ExportArn"]

        def finished() -> dict[str, Any] | None:
            now = clients.dynamodb.describe_export(ExportArn=arn)["ExportDescription"]
            return None if now["ExportStatus"] == "IN_PROGRESS" else now  # type: ignore[no-any-return]

        what = f"the export of {table} ({arn})"
        export = wait_until(finished, what, timeout, POLL_FIRST, sleep, clock, max_interval=POLL_MAX)
    if export["ExportStatus"] != "COMPLETED":
        raise AwsError(f"export of {table} failed: {export.get('FailureCode')}: {export.get('FailureMessage')}")
    files = _exported_files(clients, config, prefix + "export")
    manifest = {
        "runId": run_id,
        "table": table,
        "kind": "export",
        "streamArn": described.get("LatestStreamArn"),
        "exportArn": export["ExportArn"],
        "startTime": export_time,
        "endTime": export_time,
        "items": export.get("ItemCount", 0),
        "files": files,
    }
    clients.s3.put_object(
        Bucket=config.firehose_delivery_bucket, Key=prefix + "manifest.json", Body=json.dumps(manifest).encode()
    )
    record_base(clients, config, table, manifest)  # after the manifest: restores list it, no GET
    return BackfillResult(
        run_id, int(export.get("ItemCount", 0)), len(files), time.monotonic() - started, kind="export"
    )


def _exported_files(clients: Clients, config: Config, prefix: str) -> list[dict[str, Any]]:
    """The export's data files as manifest entries."""
    objects = []
    for page in clients.s3.get_paginator("list_objects_v2").paginate(
        Bucket=config.firehose_delivery_bucket, Prefix=prefix
    ):
        objects += [o for o in page.get("Contents", []) if "/data/" in o["Key"] and o["Key"].endswith(".gz")]
    return [{"key": o["Key"], "size": o["Size"], "etag": o["ETag"], "sha256": ""} for o in objects]
