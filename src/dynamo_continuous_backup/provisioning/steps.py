"""The steps of a provisioning plan: one frozen dataclass per kind of change, carrying the
parameters of the calls it stands for. Planners return them (plan.py); executors apply them
(executor.py) or print them (`PrintingExecutor`, for --dry-run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeAlias


class Step:
    """One change a plan makes. `action` is the name users see in results; `str(step)` is one
    line for the dry run and the logs, naming resources only, never item data or secrets."""

    action: ClassVar[str]
    shows: ClassVar[str]  # what it changes, formatted with the step's fields (tuples comma-joined)

    @property
    def target(self) -> str:
        fields = {k: ", ".join(map(str, v)) if isinstance(v, tuple) else v for k, v in vars(self).items()}
        return self.shows.format(**fields)

    def __str__(self) -> str:
        return f"{self.action.replace('_', ' ')}: {self.target}"


@dataclass(frozen=True)
class OnTable(Step):
    """A step for one table."""

    shows: ClassVar[str] = "table {table}"
    table: str


@dataclass(frozen=True)
class EnableStream(OnTable):
    action: ClassVar[str] = "enable_stream"
    shows: ClassVar[str] = "table {table} ({view})"
    view: str


@dataclass(frozen=True)
class CreateDeliveryStream(OnTable):
    action: ClassVar[str] = "create_delivery_stream"
    shows: ClassVar[str] = "{name} for table {table}"
    name: str


@dataclass(frozen=True)
class UpdateDeliveryProcessing(OnTable):
    """Our delivery stream's processors differ from what the config wants (e.g. made before
    aggregated records needed de-aggregation): set them."""

    action: ClassVar[str] = "update_delivery_processing"
    shows: ClassVar[str] = "{name} of table {table} ({types})"
    name: str
    processing: dict[str, Any]  # the ProcessingConfiguration to set

    @property
    def target(self) -> str:
        types = ", ".join(p["Type"] for p in self.processing.get("Processors", []))
        return f"{self.name} of table {self.table} (processors: {types})"


@dataclass(frozen=True)
class CancelDraining(OnTable):
    action: ClassVar[str] = "cancel_draining"
    shows: ClassVar[str] = "delivery stream {delivery_stream} of table {table}"
    delivery_stream: str


@dataclass(frozen=True)
class CreateMapping(OnTable):
    action: ClassVar[str] = "create_mapping"
    stream_arn: str | None  # None: the stream an EnableStream of the same plan turns on

    @property
    def target(self) -> str:
        return f"{self.stream_arn or 'the new stream of table ' + self.table} to the forwarder"


@dataclass(frozen=True)
class EnableMapping(OnTable):
    action: ClassVar[str] = "enable_mapping"
    shows: ClassVar[str] = "{uuid} of table {table}"
    uuid: str


@dataclass(frozen=True)
class UpdateMapping(OnTable):
    """The config's batch size or batching window changed: the existing mapping follows it."""

    action: ClassVar[str] = "update_mapping"
    shows: ClassVar[str] = "{uuid} of table {table} (batch size {batch_size}, batching window {window_seconds}s)"
    uuid: str
    batch_size: int
    window_seconds: int


@dataclass(frozen=True)
class DeleteDuplicateMappings(OnTable):
    """Concurrent ensures each created a mapping: all but the one kept go."""

    action: ClassVar[str] = "delete_duplicate_mappings"
    shows: ClassVar[str] = "{uuids} of table {table}"
    uuids: tuple[str, ...]


@dataclass(frozen=True)
class DeleteMappings(OnTable):
    action: ClassVar[str] = "delete_mappings"
    shows: ClassVar[str] = "{uuids} of table {table}"
    uuids: tuple[str, ...]


@dataclass(frozen=True)
class MarkDraining(OnTable):
    action: ClassVar[str] = "mark_draining"
    shows: ClassVar[str] = "delivery stream {delivery_stream} of table {table}"
    delivery_stream: str
    since: float  # the drain's cut-off: stream records up to it must reach S3 before removal


@dataclass(frozen=True)
class DeleteDeliveryStream(OnTable):
    action: ClassVar[str] = "delete_delivery_stream"
    shows: ClassVar[str] = "{name} of table {table}"
    name: str


@dataclass(frozen=True)
class PutDeliveryAlarms(OnTable):
    """Create or update the delivery stream's alarms (core/alarms.py)."""

    action: ClassVar[str] = "put_delivery_alarms"
    shows: ClassVar[str] = "{names} of table {table}"
    names: tuple[str, ...]
    settings: tuple[dict[str, Any], ...]  # PutMetricAlarm's arguments, one per alarm


@dataclass(frozen=True)
class DeleteDeliveryAlarms(OnTable):
    action: ClassVar[str] = "delete_delivery_alarms"
    shows: ClassVar[str] = "{names} of table {table}"
    names: tuple[str, ...]


@dataclass(frozen=True)
class SaveSchema(OnTable):
    """Refresh the table's saved schema (only a change when the schema changed)."""

    action: ClassVar[str] = "save_schema"
    shows: ClassVar[str] = "table {table} (if it changed)"


@dataclass(frozen=True)
class TakeSnapshot(OnTable):
    """Take a base of the table's current stream, unless one exists by then."""

    action: ClassVar[str] = "snapshot"
    shows: ClassVar[str] = "table {table} (a base of its current stream)"


TableStep: TypeAlias = (
    EnableStream
    | CreateDeliveryStream
    | UpdateDeliveryProcessing
    | CancelDraining
    | CreateMapping
    | EnableMapping
    | UpdateMapping
    | DeleteDuplicateMappings
    | DeleteMappings
    | MarkDraining
    | DeleteDeliveryStream
    | PutDeliveryAlarms
    | DeleteDeliveryAlarms
    | SaveSchema
    | TakeSnapshot
)


class Printer(Protocol):
    """Where a dry run writes (the CLI's `UI`)."""

    def line(self, text: str = "") -> None: ...


class PrintingExecutor:
    """The --dry-run executor of every plan: prints each step, calls nothing."""

    dry_run = True

    def __init__(self, printer: Printer) -> None:
        self.printer = printer

    def apply(self, step: Step, *context: object) -> bool:
        self.printer.line(f"would {step}")
        return True
