"""What an EventBridge event asks the ensure function to do (parse_event), and doing it (handle)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..core import naming
from ..core.aws import Clients
from ..core.errors import BackupError
from ..snapshot.checkpoint import Scheduled, ScheduledCheckpoints
from .fleet import list_tables, owned_delivery_streams, run_many
from .optin import OptIn
from .provisioner import Provisioner, Result

log = logging.getLogger(__name__)

CREATING_CALLS = ("CreateTable", "RestoreTableFromBackup", "RestoreTableToPointInTime", "ImportTable")
HANDLED_CALLS = (*CREATING_CALLS, "DeleteTable", "UpdateTable")


@dataclass(frozen=True)
class TableEvent:
    """What one event asks for: `ensure` or `remove` a table, or `reconcile` everything."""

    action: str  # ensure | remove | reconcile | ignore
    table: str = ""
    reason: str = ""
    at: float | None = None  # when the call happened (CloudTrail's eventTime), if the event says
    stops: bool = False  # the call stopped capture (DeleteTable, a stream turned off): `at` ends a generation


def parse_event(event: dict[str, Any]) -> TableEvent:
    """Read an EventBridge event; anything unexpected is ignored with a reason, never guessed."""
    kind = event.get("detail-type")
    if kind == "Scheduled Event":
        return TableEvent("reconcile")
    detail = event.get("detail") or {}
    if kind != "AWS API Call via CloudTrail" or detail.get("eventSource") != "dynamodb.amazonaws.com":
        return TableEvent("ignore", reason=f"not a DynamoDB CloudTrail event: {kind!r}")
    call = detail.get("eventName")
    if call not in HANDLED_CALLS:
        return TableEvent("ignore", reason=f"call {call!r} does not change table coverage")
    if detail.get("errorCode"):
        return TableEvent("ignore", reason=f"{call} failed with {detail['errorCode']}")
    params = detail.get("requestParameters") or {}
    if call in ("RestoreTableFromBackup", "RestoreTableToPointInTime"):
        name = params.get("targetTableName")
    elif call == "ImportTable":
        name = (params.get("tableCreationParameters") or {}).get("tableName")
    else:
        name = params.get("tableName")
    if not isinstance(name, str) or not name:
        return TableEvent("ignore", reason=f"{call} event carries no table name")
    stream = params.get("streamSpecification") or {}
    stops = call == "DeleteTable" or (call == "UpdateTable" and stream.get("streamEnabled") is False)
    action = "remove" if call == "DeleteTable" else "ensure"
    return TableEvent(action, naming.table_name(name), at=_time(detail), stops=stops)


def _time(detail: dict[str, Any]) -> float | None:
    """CloudTrail's eventTime (`2026-11-23T10:00:00Z`) as epoch seconds; None if absent or odd."""
    try:
        return datetime.fromisoformat(str(detail["eventTime"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return None


def reconcile(provisioner: Provisioner, optin: OptIn, clients: Clients, concurrency: int = 8) -> list[Result]:
    """Ensure every opted-in table; finish removing what belongs to tables that are gone."""
    tables = list_tables(clients)
    present = set(tables)
    checkpoints = ScheduledCheckpoints(clients, provisioner.config, provisioner.clock)

    def one(table: str) -> Result:
        if not optin.covers(table):
            return Result(table, "excluded")
        result = provisioner.ensure(table)
        if result.status != "protected":
            return result
        try:
            done = checkpoints.run(table)  # a new base when the newest is older than the interval
        except BackupError as exc:  # the table stays protected; the next reconcile tries again
            log.warning("table %s: scheduled checkpoint failed: %s", table, exc)
            done = Scheduled(table, reason=f"scheduled checkpoint failed ({exc}); the next reconcile retries")
        actions = (*result.actions, done.action) if done.action else result.actions
        reason = "; ".join(r for r in (result.reason, done.reason) if r)
        return replace(result, actions=actions, reason=reason)

    results = list(run_many(one, tables, concurrency))
    orphans = sorted({t for t in owned_delivery_streams(clients).values() if t not in present})
    results += run_many(provisioner.remove, orphans, concurrency)
    return results


def handle(event: dict[str, Any], provisioner: Provisioner, optin: OptIn, clients: Clients) -> dict[str, Any]:
    """Library side of the handler: one event in, a JSON-able summary out."""
    parsed = parse_event(event)
    if parsed.action == "ignore":
        log.info("ignored event: %s", parsed.reason)
        return {"action": "ignore", "reason": parsed.reason, "results": []}
    if parsed.action == "reconcile":
        results = reconcile(provisioner, optin, clients)
    elif parsed.action == "remove" and not (optin.covers(parsed.table) and provisioner.exists(parsed.table)):
        results = [provisioner.remove(parsed.table, at=parsed.at)]
    elif optin.covers(parsed.table):
        # A DeleteTable of a table that is there again (delivered late, or retried) is about an
        # earlier incarnation: ensure ends that one's generation and keeps protecting this one.
        results = [provisioner.ensure(parsed.table, at=parsed.at if parsed.stops else None)]
    else:
        results = [Result(parsed.table, "excluded", reason="not opted in")]
    for r in results:
        level = logging.INFO if r.ok or r.status == "draining" else logging.WARNING
        log.log(level, "table %s: %s %s %s", r.table, r.status, ",".join(r.actions), r.reason)
    failed = [r for r in results if r.status == "failed"]
    if failed and parsed.action != "reconcile":  # worth a retry: EventBridge redelivers
        raise RuntimeError(f"provisioning {failed[0].table} failed: {failed[0].reason}")
    return {"action": parsed.action, "results": [r.as_dict() for r in results]}
