"""Provisioner: observe one table (observe.py), plan (plan.py), execute the steps
(executor.py, or for a dry run `steps.PrintingExecutor`)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..core import alarms, naming, timeline_store
from ..core.aws import Clients
from ..core.config import Config
from ..core.errors import BackupError
from ..core.timeline import Generation, label_time
from . import drain
from .executor import AwsExecutor, Executor, NotRestorable
from .observe import Observer
from .plan import WANTED_VIEW, Observed, plan_ensure, plan_remove
from .steps import DeleteMappings, EnableStream, MarkDraining

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What ensure/remove did for one table (in a dry run: would do)."""

    table: str
    # protected | planned | not_restorable | not_protectable | missing | excluded | draining | removed | failed
    status: str
    actions: tuple[str, ...] = ()
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("protected", "removed", "excluded")

    @property
    def can_apply(self) -> bool:
        """A dry run's verdict: its plan can be applied (whether it changes something or not)."""
        return self.ok or self.status in ("planned", "draining")

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "status": self.status, "actions": list(self.actions), "reason": self.reason}


class Provisioner:
    def __init__(
        self,
        clients: Clients,
        config: Config,
        firehose_role_arn: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients
        self.config = config
        self._firehose_role = firehose_role_arn
        self.sleep = sleep
        self.clock = clock

    @property
    def observer(self) -> Observer:
        return Observer(self.clients, self.config, self.sleep, self.topic_arn)

    @functools.cached_property
    def topic_arn(self) -> str:
        """Where the delivery streams' alarms notify: the deployed functions carry it in their config."""
        if self.config.alarm_topic_arn:
            return self.config.alarm_topic_arn
        account = self.clients.sts.get_caller_identity()["Account"]
        return alarms.topic_arn(self.config, account, self.clients.region)

    def observe(self, table: str, all_mappings: bool = False) -> Observed:
        """The table and our resources for it (see Observer.observe)."""
        return self.observer.observe(table, all_mappings)

    def executor(self) -> AwsExecutor:
        return AwsExecutor(self.observer, self._firehose_role)

    def ensure(self, table: str, executor: Executor | None = None, at: float | None = None) -> Result:
        """Make the table protected; report what was done or why it cannot be. With a
        `PrintingExecutor` the steps are printed instead: status "planned" when any changes.
        `at`: when the call that stopped capture happened (an UpdateTable that turned the stream
        off, or a DeleteTable of an earlier incarnation), if an event says."""
        run = executor or self.executor()
        seen = self.clock()  # capture as observed below was so at least from here on
        obs = self.observer.observe(table, bases=True)
        if not run.dry_run and obs.table_status is not None:
            self._end_stopped_generations(obs, seen, at)
        plan = plan_ensure(obs)
        if plan.status != "protected":
            return Result(table, plan.status, plan.actions, plan.reason)
        if run.dry_run:
            for step in plan.steps:
                run.apply(step, obs)
            return Result(table, "planned" if plan.changes else "protected", plan.actions)
        done: list[str] = []
        for step in plan.steps:
            try:
                if run.apply(step, obs):
                    done.append(step.action)
            except NotRestorable as refused:
                return Result(table, "not_restorable", tuple(done), refused.reason)
            except BackupError:
                if self.observer.describe_table(table) is None:  # DeleteTable won the race
                    return Result(
                        table,
                        "missing",
                        tuple(done),
                        "table was deleted while being provisioned; the reconcile removes what was created for it",
                    )
                raise
            if isinstance(step, EnableStream):
                obs = self.observe(table)  # the new stream's ARN and description
        if obs.stream_arn:  # the generation a restore reads; a newer one ends the one before
            timeline_store.record_begin(self.clients, self.config, table, obs.stream_arn, _created(obs))
        return Result(table, plan.status, tuple(done), plan.reason)

    def _end_stopped_generations(self, obs: Observed, seen: float, stopped: float | None) -> None:
        """End every open generation whose capture `obs` (observed from `seen` on) shows off: its
        stream is not the table's current one, or the current one's view type is not ours. Never
        the one capturing now, nor one begun since `seen` (a concurrent ensure's), nor at a time
        before a generation began (timeline.py says when each one ends)."""
        current = naming.stream_label(obs.stream_arn or "")
        capturing = current if obs.stream_view_type == WANTED_VIEW else ""
        stale = [x for x in timeline_store.open_labels(self.clients, self.config, obs.table) if x != capturing]
        if obs.stream_view_type is None:
            reason = "stream disabled"
        elif obs.stream_view_type != WANTED_VIEW:
            reason = f"stream switched to {obs.stream_view_type}"
        else:
            reason = "stream replaced"
        for label in stale:
            start = label_time(label)
            if start is None or start >= seen:
                continue
            found = Generation(label, start).end_when_capture_off(
                seen, _created(obs), stopped, label_time(current) if current else None, reason
            )
            if found is not None:
                timeline_store.record_end(self.clients, self.config, obs.table, label, *found)

    def remove(
        self, table: str, executor: Executor | None = None, wait: bool = False, at: float | None = None
    ) -> Result:
        """Drain, then remove our mapping and delivery stream; S3 data stays. With `wait`, until
        removed or the wait times out (never in a dry run: nothing would change meanwhile)."""
        run = executor or self.executor()
        interval = self.config.firehose_delivery_interval_seconds
        buffer = interval + max(5, interval // 2)  # Firehose flushes within its interval, plus margin
        deadline = self.clock() + self.config.drain_seconds + buffer + self.config.wait_timeout_seconds
        done: list[str] = []
        while True:
            obs = self._observe_drain(table)
            plan = plan_remove(obs, self.clock(), self.config.drain_seconds, buffer, drain.STREAM_RETENTION_SECONDS)
            for step in plan.steps:
                if isinstance(step, MarkDraining | DeleteMappings) and not run.dry_run:
                    # Capture ends at the drain's cut-off (what the stream holds up to it reaches
                    # S3), or at the DeleteTable call for the generations that began before it.
                    cut_off = step.since if isinstance(step, MarkDraining) else self.clock()
                    self._end_removed(table, obs, cut_off, at)
                run.apply(step, obs)
                done.append(step.action)
            if plan.status == "removed" or not wait or run.dry_run:
                return Result(table, plan.status, tuple(done), plan.reason)
            if self.clock() >= deadline:
                return Result(table, "draining", tuple(done), f"{plan.reason}; the hourly reconcile finishes it")
            self.sleep(min(10.0, max(1.0, self.config.drain_seconds / 4)))

    def _end_removed(self, table: str, obs: Observed, cut_off: float, deleted: float | None) -> None:
        """End the generations of the streams our mappings read: removal stops their capture."""
        reason = "deleted" if obs.table_status is None else "capture stopped"
        for stream in sorted({m.stream_arn for m in obs.mappings}):
            label = naming.stream_label(stream)
            start = label_time(label)
            if start is None:
                continue
            found = Generation(label, start).end_when_capture_off(cut_off, stopped=deleted, reason=reason)
            if found is not None:
                timeline_store.record_end(self.clients, self.config, table, label, *found)

    def exists(self, table: str) -> bool:
        """Whether the table is there and not being deleted."""
        desc = self.observer.describe_table(table)
        return desc is not None and desc.get("TableStatus") != "DELETING"

    def _observe_drain(self, table: str) -> Observed:
        """Observe for removal; once the drain is due, also count the stream records not yet in S3."""
        obs = self.observe(table, all_mappings=True)
        if obs.draining_since is None or not obs.mappings:
            return obs
        if self.clock() - obs.draining_since < self.config.drain_seconds:
            return obs
        proof = drain.check(
            self.clients, self.config, table, (m.stream_arn for m in obs.mappings), obs.draining_since, self.clock()
        )
        log.info("table %s: %s of %d stream records not in S3 yet", table, proof.pending, proof.checked)
        return replace(obs, undelivered=proof.pending)

    def save_schema(self, table: str) -> bool:
        """Save (or refresh) one table's schema beside its backups; True when it changed."""
        return self.executor().save_schema(self.observe(table))


def _created(obs: Observed) -> float | None:
    """The observed table incarnation's CreationDateTime, as epoch seconds."""
    created = (obs.description or {}).get("CreationDateTime")
    return created.timestamp() if isinstance(created, datetime) else None
