"""`status`: one row per table: opted in?, stream, delivery stream, mapping, last backup, and
capture health (lag, last delivery error: health.py)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..core import naming
from ..core.aws import Clients
from ..core.config import Config
from ..core.errors import AwsError, NotProtectableError, TableNotFoundError
from ..core.timeline import iso, iso_up
from ..core.timeline_store import change_roots, read_trusted_timeline
from ..snapshot.bases import backfill_command, find_base
from ..snapshot.checkpoint import handoff_note
from .fleet import list_tables, parallel_map
from .health import decide_health, observe_health
from .optin import OptIn
from .plan import WANTED_VIEW, plan_ensure
from .provisioner import Provisioner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableStatus:
    table: str
    opted_in: bool
    stream_view_type: str | None
    delivery_stream: str
    delivery_status: str | None
    mapping_state: str | None
    last_backup: str | None
    protected: bool  # capture running AND a complete base of the current stream: restorable
    problem: str
    restorable_since: str | None = None  # the earliest restorable time of the current generation
    restorable: tuple[tuple[str, str | None], ...] = ()  # (from, to) spans, oldest first; to None: now
    gaps: tuple[tuple[str, str], ...] = ()  # the unrestorable stretches between those spans
    lag_seconds: float | None = None  # the most capture lagged in the last 15 min; None: no datum
    delivery_error: str | None = None  # undelivered records, failed deliveries or a failed stream
    metrics_note: str | None = None  # why lag and delivery metrics are unknown (e.g. no permission)
    untrusted_bases: tuple[str, ...] = ()  # checkpoints a late change contradicts: restores skip them
    frees_pruned: bool | None = None  # the bucket has deploy's lifecycle rule (None: retention is off)
    checkpoint_note: str | None = None  # a scheduled checkpoint the function left to the CLI

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bucket_lifecycle(clients: Clients, bucket: str) -> tuple[dict[str, Any], ...]:
    """The bucket's lifecycle rules (none configured: none)."""
    try:
        return tuple(clients.s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []))
    except AwsError as exc:
        if exc.code != "NoSuchLifecycleConfiguration":
            raise
        return ()


def frees_pruned(clients: Clients, config: Config) -> bool | None:
    """With retention on: whether the bucket lets S3 free what retention deletes (deploy's rule,
    enabled); None with retention off."""
    if config.change_retention_days <= 0:
        return None
    rules = bucket_lifecycle(clients, config.firehose_delivery_bucket)
    return any(r.get("ID") == naming.LIFECYCLE_RULE_ID and r.get("Status") == "Enabled" for r in rules)


def last_backup_time(clients: Clients, config: Config, table: str) -> datetime | None:
    """Newest change object's time, found by walking the YYYY/MM/DD/HH levels of each layout's
    folder (the flat one, each tenant's), not a full list."""
    times = [_newest(clients, config.firehose_delivery_bucket, root) for root in change_roots(clients, config, table)]
    return max((t for t in times if t is not None), default=None)


def _newest(clients: Clients, bucket: str, prefix: str) -> datetime | None:
    for _ in range(4):
        page = clients.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
        levels = sorted(p["Prefix"] for p in page.get("CommonPrefixes", []) if p["Prefix"][len(prefix) : -1].isdigit())
        if not levels:
            return None
        prefix = levels[-1]
    newest: datetime | None = None
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if newest is None or obj["LastModified"] > newest:
                newest = obj["LastModified"]
    return newest


def table_status(provisioner: Provisioner, optin: OptIn, table: str) -> TableStatus:
    obs = provisioner.observe(table)
    plan = plan_ensure(obs)
    current = [m for m in obs.mappings if m.stream_arn == obs.stream_arn]
    opted = optin.covers(table)
    missing = [s.action for s in plan.changes]
    problem = plan.reason or ("needs " + ", ".join(missing) if missing else "")
    capturing = not problem and obs.stream_view_type == WANTED_VIEW
    restorable = bool(
        capturing and obs.description and find_base(provisioner.clients, provisioner.config, table, obs.description)
    )
    if capturing and not restorable:
        problem = f"not restorable: no complete base snapshot of its current stream; run `{backfill_command(table)}`"
    last = last_backup_time(provisioner.clients, provisioner.config, table)
    timeline = read_trusted_timeline(provisioner.clients, provisioner.config, table)
    spans = timeline.restorable()
    current_span = spans[-1] if spans and spans[-1][1] is None else None
    health = (
        decide_health(observe_health(provisioner.clients, table, obs.delivery_stream, obs.delivery_status))
        if obs.delivery_status is not None or current  # capturing, or trying to (its stream may be gone)
        else None
    )
    return TableStatus(
        table,
        opted,
        obs.stream_view_type,
        obs.delivery_stream,
        obs.delivery_status,
        current[0].state if current else None,
        iso(last.timestamp()) if last else None,
        restorable,
        problem,
        iso_up(current_span[0]) if current_span else None,
        tuple((iso_up(lo), iso(hi) if hi is not None else None) for lo, hi in spans),
        tuple((iso(a[1]), iso(b[0])) for a, b in zip(spans, spans[1:], strict=False) if a[1] is not None),
        health.lag_seconds if health else None,
        health.delivery_error if health else None,
        health.metrics_note if health else None,
        tuple(sorted(timeline.untrusted)),
        frees_pruned(provisioner.clients, provisioner.config),
        handoff_note(provisioner.clients, provisioner.config, table, timeline),
    )


def fleet_status(clients: Clients, config: Config, concurrency: int = 8) -> list[TableStatus]:
    provisioner = Provisioner(clients, config)
    optin = OptIn.from_config(config)

    def one(table: str) -> TableStatus:
        try:
            return table_status(provisioner, optin, table)
        except AwsError as exc:  # one table's AWS failure is that table's row, not the end of status
            log.debug("status of %s failed", table, exc_info=True)  # tracebacks only with --debug
            return TableStatus(
                table=table,
                opted_in=optin.covers(table),
                stream_view_type=None,
                delivery_stream=naming.delivery_stream_name(table),
                delivery_status=None,
                mapping_state=None,
                last_backup=None,
                protected=False,
                problem=str(exc),
            )

    return list(parallel_map(one, sorted(list_tables(clients)), concurrency))


def require_protected(clients: Clients, config: Config, table: str) -> None:
    """A snapshot is only complete if stream capture covers every change made during the scan."""
    obs = Provisioner(clients, config).observe(table)
    if obs.table_status is None:
        raise TableNotFoundError(table)
    plan = plan_ensure(obs)
    missing = [s.action for s in plan.changes]
    if plan.status != "protected" or missing:
        raise NotProtectableError(
            f"table {table} is not protected ({plan.reason or ', '.join(missing)}); "
            "provision it first so the stream captures changes made during the scan"
        )
