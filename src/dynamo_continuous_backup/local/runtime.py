"""The local runtime: EventBridge delivery, scheduled rules and stream polling, invoking each
deployed function as Lambda does (see workers.py) and publishing the metrics Lambda and
CloudWatch Logs would (see cloudwatch.py)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from ..core.aws import Clients
from .cloudwatch import MetricPublisher, emf_metrics, invocation_metrics, iterator_age_ms
from .eventbridge import lifecycle_events, matches, rate_seconds, scheduled, table_states
from .streams import MappingPoller
from .workers import POOL, FunctionSpec, WorkerPool

log = logging.getLogger(__name__)

IDLE_CAP = 1.0  # seconds: the longest pause of an idle runtime before it looks again


def idle_wait(previous: float, busy: bool, base: float, cap: float = IDLE_CAP) -> float:
    """The pause before the next step: none after a step that delivered something, else `base`
    doubling with each idle step up to `cap` (never below `base`). Each step is several API
    calls: polling an idle emulator every `base` seconds cost a quarter of a core."""
    if busy:
        return 0.0
    return min(max(base, cap), max(base, previous * 2))


class LocalRuntime:
    """EventBridge delivery, scheduled rules and stream polling for the functions deployed on
    the emulated account. `settle()` drives it synchronously; `start()` runs it in threads."""

    def __init__(
        self,
        clients: Clients | None = None,
        poll_interval: float = 0.2,
        speedup: float = 1.0,
        pool: WorkerPool = POOL,
    ) -> None:
        self.clients = clients or Clients()
        self.pool = pool
        self.poll_interval = poll_interval
        self.speedup = speedup
        self.poller = MappingPoller(self.clients.streams, self.invoke)
        self.metrics = MetricPublisher(self.clients.cloudwatch)
        self.invocations: list[tuple[str, str]] = []  # (function name, event kind), for tests and demo
        self._tables = table_states(self.clients.dynamodb)
        self._last_fired: dict[str, float] = {}
        self._step_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.account = self.clients.sts.get_caller_identity()["Account"]

    # -- invoking --------------------------------------------------------------------------------
    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Run the function as Lambda does: its deployed zip in a warm Python 3.12 worker with only
        boto3, its environment and its timeout. A failed invocation raises FunctionError."""
        spec = FunctionSpec.from_get_function(
            self.clients.lambda_.get_function(FunctionName=function), self.clients.region
        )
        kind = event.get("detail-type") or ("stream batch" if "Records" in event else "event")
        self.invocations.append((spec.name, kind))
        age = iterator_age_ms(event, time.time())  # as Lambda: measured when the batch is sent
        started, failed = time.monotonic(), True
        try:
            result = self.pool.invoke(spec, json.loads(json.dumps(event)), output=self._function_output)
            failed = False
            return result
        finally:
            duration = round((time.monotonic() - started) * 1000, 3)
            self.metrics.put(invocation_metrics(spec.name, duration, failed, age, datetime.now(UTC)))

    def _function_output(self, line: str) -> None:
        """A line of a function's output, as CloudWatch Logs receives it: EMF becomes metrics."""
        self.metrics.put(emf_metrics(line))

    # -- EventBridge -----------------------------------------------------------------------------
    def _rules(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        for page in self.clients.events.get_paginator("list_rules").paginate():
            rules += [r for r in page["Rules"] if r.get("State") == "ENABLED"]
        return rules

    def dispatch(self, event: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> int:
        """Deliver an event to the targets of every rule whose pattern matches; return how many."""
        delivered = 0
        for rule in rules if rules is not None else self._rules():
            if "EventPattern" in rule and matches(json.loads(rule["EventPattern"]), event):
                delivered += self._to_targets(rule, event)
        return delivered

    def _to_targets(self, rule: dict[str, Any], event: dict[str, Any]) -> int:
        n = 0
        for target in self.clients.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            if ":lambda:" in target["Arn"]:
                try:
                    self.invoke(target["Arn"], event)
                except Exception as exc:  # as EventBridge: a failed target does not stop the others
                    log.warning("target %s of rule %s failed: %s", target["Arn"], rule["Name"], exc)
                n += 1
        return n

    def step_events(self) -> int:
        """Turn table changes since the last step into CloudTrail events and dispatch them."""
        now = table_states(self.clients.dynamodb)
        events = lifecycle_events(self._tables, now, self.account, self.clients.region)
        self._tables = now
        return sum(self.dispatch(e) for e in events) if events else 0

    def fire_schedules(self, force: bool = False) -> int:
        """Fire scheduled rules that are due (all of them with force=True)."""
        fired = 0
        for rule in self._rules():
            period = rate_seconds(rule.get("ScheduleExpression", "")) if "ScheduleExpression" in rule else None
            if "ScheduleExpression" not in rule or (period is None and not force):
                continue
            last = self._last_fired.setdefault(rule["Name"], time.monotonic())
            if force or (period is not None and (time.monotonic() - last) * self.speedup >= period):
                self._last_fired[rule["Name"]] = time.monotonic()
                fired += self._to_targets(rule, scheduled(rule["Arn"], self.account, self.clients.region))
        return fired

    # -- event source mappings -------------------------------------------------------------------
    def step_streams(self) -> int:
        delivered = 0
        for page in self.clients.lambda_.get_paginator("list_event_source_mappings").paginate():
            for mapping in page["EventSourceMappings"]:
                if mapping.get("State") == "Enabled" and ":dynamodb:" in mapping.get("EventSourceArn", ""):
                    delivered += self.poller.poll(mapping)
        return delivered

    # -- driving ---------------------------------------------------------------------------------
    def step(self) -> int:
        with self._step_lock:
            return self.step_events() + self.step_streams() + self.fire_schedules()

    def settle(self, timeout: float = 30.0, quiet_rounds: int = 2) -> None:
        """Step until nothing happens for `quiet_rounds` rounds in a row (or `timeout`), records
        held for a batching window being delivered first; then the metrics of what ran are in CloudWatch."""
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < quiet_rounds:
            if time.monotonic() > deadline:
                raise TimeoutError(f"local runtime still busy after {timeout}s")
            delivered = self.step()
            due = self.poller.due_in()
            if delivered == 0 and due is not None:  # records held for a batching window: not quiet
                quiet = 0
                time.sleep(min(self.poll_interval, due))
                continue
            quiet = quiet + 1 if delivered == 0 else 0
        self.metrics.flush(max(1.0, deadline - time.monotonic()))

    def start(self) -> LocalRuntime:
        thread = threading.Thread(target=self._loop, name="dcb-local-runtime", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _loop(self) -> None:
        wait = 0.0
        while not self._stop.is_set():
            try:
                wait = idle_wait(wait, self.step() > 0, self.poll_interval)
            except Exception:  # the background loop must outlive any one failed step
                log.exception("local runtime step failed; continuing")
                wait = 1.0
            if wait:
                self._stop.wait(wait)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.metrics.flush()
