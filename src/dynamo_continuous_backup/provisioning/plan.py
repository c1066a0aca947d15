"""Pure decisions: given what a table looks like now, which steps make it protected or
removed. No AWS calls here; the provisioner observes, plans, then executes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.alarms import AlarmSpec
from .destination import processing_differs
from .steps import (
    CancelDraining,
    CreateDeliveryStream,
    CreateMapping,
    DeleteDeliveryAlarms,
    DeleteDeliveryStream,
    DeleteDuplicateMappings,
    DeleteMappings,
    EnableMapping,
    EnableStream,
    MarkDraining,
    PutDeliveryAlarms,
    SaveSchema,
    TableStep,
    TakeSnapshot,
    UpdateDeliveryProcessing,
    UpdateMapping,
)

WANTED_VIEW = "NEW_AND_OLD_IMAGES"


@dataclass(frozen=True)
class Batching:
    """How a mapping batches records for the forwarder (config: streamsMaxRecordsBatch,
    streamsBatchingWindowSeconds)."""

    batch_size: int
    window_seconds: int


@dataclass(frozen=True)
class MappingState:
    uuid: str
    state: str  # Creating, Enabled, Disabled, Enabling, Disabling, Updating, Deleting
    stream_arn: str
    last_modified: float = 0.0
    batching: Batching | None = None  # None: not looked


@dataclass(frozen=True)
class Observed:
    """A snapshot of one table and the resources we own for it."""

    table: str
    table_status: str | None  # None: the table does not exist
    stream_view_type: str | None = None  # None: no stream enabled
    stream_arn: str | None = None
    delivery_stream: str = ""
    delivery_status: str | None = None  # None: no delivery stream of that name
    delivery_owner: str | None = None  # full table name in its tags, None if not tagged ours
    mappings: tuple[MappingState, ...] = ()  # ours (our forwarder): on the current stream, or all for removal
    draining_since: float | None = None
    # the delivery stream's ProcessingConfiguration as described ({}: none), and as the config
    # wants it (None: no opinion, the flat layout leaves processors alone)
    delivery_processing: dict[str, Any] | None = field(default=None, compare=False)
    wanted_processing: dict[str, Any] | None = field(default=None, compare=False)
    undelivered: int | None = None  # stream records up to the drain cut-off not yet in S3; None: unknown
    has_base: bool | None = None  # a complete base of the current stream exists; None: not looked
    wanted_alarms: tuple[AlarmSpec, ...] = ()  # the delivery stream's alarms as the config wants them
    wanted_batching: Batching | None = None  # the mapping's batching as the config wants it; None: leave it
    alarms: dict[str, dict[str, Any]] | None = field(default=None, compare=False)  # DescribeAlarms; None: not looked
    description: dict[str, Any] | None = field(default=None, compare=False)  # DescribeTable's answer


@dataclass(frozen=True)
class Plan:
    steps: tuple[TableStep, ...] = ()
    status: str = "protected"  # protected | not_protectable | missing | draining | removed
    reason: str = ""

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(step.action for step in self.steps)

    @property
    def changes(self) -> tuple[TableStep, ...]:
        """The steps that change the table's capture (its saved schema and its alarms do not)."""
        return tuple(step for step in self.steps if not isinstance(step, SaveSchema | PutDeliveryAlarms))


def plan_ensure(obs: Observed) -> Plan:
    """Steps that make the table protected, or why it cannot be without touching others."""
    if obs.table_status is None:
        return Plan(status="missing", reason="table does not exist")
    if obs.stream_view_type not in (None, WANTED_VIEW):
        return Plan(
            status="not_protectable",
            reason=f"table has a {obs.stream_view_type} stream another consumer may rely on; "
            f"switch it to {WANTED_VIEW} yourself or exclude the table",
        )
    if obs.delivery_status is not None and obs.delivery_owner != obs.table:
        return Plan(
            status="not_protectable",
            reason=f"delivery stream {obs.delivery_stream} exists and is not ours; delete or rename it, then run again",
        )
    table = obs.table
    steps: list[TableStep] = []
    if obs.stream_view_type is None:
        steps.append(EnableStream(table, WANTED_VIEW))
    if obs.delivery_status is None:
        steps.append(CreateDeliveryStream(table, obs.delivery_stream))
    if (
        obs.delivery_status == "ACTIVE"
        and obs.wanted_processing is not None
        and obs.delivery_processing is not None
        and processing_differs(obs.delivery_processing, obs.wanted_processing)
    ):
        steps.append(UpdateDeliveryProcessing(table, obs.delivery_stream, obs.wanted_processing))
    if obs.draining_since is not None:
        steps.append(CancelDraining(table, obs.delivery_stream))
    current = (
        [m for m in obs.mappings if obs.stream_arn and m.stream_arn == obs.stream_arn] if obs.stream_view_type else []
    )
    keep, drop = _dedupe(current)
    if keep is None:
        steps.append(CreateMapping(table, obs.stream_arn if obs.stream_view_type else None))
    else:
        if keep.state in ("Disabled", "Disabling"):
            steps.append(EnableMapping(table, keep.uuid))
        want = obs.wanted_batching
        if want is not None and keep.batching is not None and keep.batching != want:
            steps.append(UpdateMapping(table, keep.uuid, want.batch_size, want.window_seconds))
    if drop:
        steps.append(DeleteDuplicateMappings(table, tuple(m.uuid for m in drop)))
    steps += _alarms_to_put(obs)
    steps.append(SaveSchema(table))
    # Capture alone does not make a table restorable: the items written before it began are
    # only in a base, so every ensure takes one while the current stream has none.
    if obs.has_base is False:
        steps.append(TakeSnapshot(table))
    return Plan(tuple(steps))


def _alarms_to_put(obs: Observed) -> list[TableStep]:
    if obs.alarms is None:  # not looked (no permission to read alarms): leave them be
        return []
    stale = [a for a in obs.wanted_alarms if a.name not in obs.alarms or a.differs_from(obs.alarms[a.name])]
    if not stale:
        return []
    return [PutDeliveryAlarms(obs.table, tuple(a.name for a in stale), tuple(a.put_args() for a in stale))]


def _alarms_to_delete(obs: Observed) -> tuple[TableStep, ...]:
    names = tuple(sorted(obs.alarms or ()))
    return (DeleteDeliveryAlarms(obs.table, names),) if names else ()


def _dedupe(mappings: list[MappingState]) -> tuple[MappingState | None, list[MappingState]]:
    """Concurrent ensures may each create a mapping; all converge on the oldest (then UUID)."""
    if not mappings:
        return None, []
    ordered = sorted(mappings, key=lambda m: (m.last_modified, m.uuid))
    return ordered[0], ordered[1:]


def plan_remove(
    obs: Observed, now: float, drain_seconds: float, buffer_seconds: float, retention_seconds: float
) -> Plan:
    """Drain first (docs/design.md section 9): mappings go once every record of their stream up to the
    cut-off is in S3 (`obs.undelivered == 0`) or the stream's retention has passed, never on time
    alone. S3 data is never touched."""
    ours_delivery = obs.delivery_status is not None and obs.delivery_owner == obs.table
    if not obs.mappings and not ours_delivery:
        return Plan(_alarms_to_delete(obs), status="removed")
    delete_mappings = DeleteMappings(obs.table, tuple(m.uuid for m in obs.mappings))
    delete_delivery = DeleteDeliveryStream(obs.table, obs.delivery_stream)
    if obs.draining_since is None:
        if not ours_delivery:  # nothing can deliver the stream's records: the mappings are all that is left
            return Plan((delete_mappings, *_alarms_to_delete(obs)), status="removed")
        mark = MarkDraining(obs.table, obs.delivery_stream, now)
        return Plan((mark,), status="draining", reason="waiting for the stream to drain")
    waited = now - obs.draining_since
    if obs.mappings:
        if waited < drain_seconds:
            return Plan(status="draining", reason=f"draining, first check in {drain_seconds - waited:.0f}s")
        if obs.undelivered != 0 and waited < retention_seconds:
            left = f"{(retention_seconds - waited) / 3600:.1f}h"
            pending = "some" if obs.undelivered is None else str(obs.undelivered)
            return Plan(
                status="draining",
                reason=f"{pending} stream records not in S3 yet; the mapping stays until they are "
                f"(or the stream's retention ends, in {left})",
            )
        # Every record is in S3 (or expired): nothing is left in the delivery buffer either.
        return Plan((delete_mappings, delete_delivery, *_alarms_to_delete(obs)), status="removed")
    if waited < drain_seconds + buffer_seconds:  # a mapping removed elsewhere: let the buffer flush
        return Plan(
            status="draining",
            reason=f"flushing the delivery buffer, {drain_seconds + buffer_seconds - waited:.0f}s left",
        )
    return Plan((delete_delivery, *_alarms_to_delete(obs)), status="removed")
