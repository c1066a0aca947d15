"""What a table and the resources we own for it look like now: the input of the planner
(plan.py). Read-only AWS calls; the one wait is for a table to leave CREATING/UPDATING."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core import alarms, naming
from ..core.aws import Clients, wait_until
from ..core.config import Config
from ..core.errors import AccessDeniedError, AwsNotFoundError, TableNotFoundError
from ..snapshot.bases import find_base
from .destination import tenant_processing
from .plan import Batching, MappingState, Observed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """Our delivery stream of a table as Firehose describes it (status None: it does not exist)."""

    status: str | None = None
    owner: str | None = None  # the full table name in its ownership tag, None if not tagged ours
    draining_since: float | None = None
    processing: dict[str, Any] | None = None  # its ProcessingConfiguration ({}: none)


@dataclass
class Observer:
    clients: Clients
    config: Config
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    topic_arn: str | None = None  # where the delivery alarms notify; None: leave the alarms be

    def observe(self, table: str, all_mappings: bool = False, bases: bool = False) -> Observed:
        """Describe the table (waiting out CREATING/UPDATING), its delivery stream and our mappings:
        those on its current stream, or with `all_mappings` those on any stream it ever had. With
        `bases`, also whether a complete base of its current stream exists."""
        desc = self.describe_table(table)
        if desc is not None and desc["TableStatus"] in ("CREATING", "UPDATING"):
            desc = self.wait_active(table)
        spec = (desc or {}).get("StreamSpecification") or {}
        view = spec.get("StreamViewType") if spec.get("StreamEnabled") else None
        stream_arn = desc.get("LatestStreamArn") if desc and view else None
        delivery = self.delivery(table)
        has_base = None
        if bases and desc is not None:
            has_base = find_base(self.clients, self.config, table, desc) is not None
        stream_name = naming.delivery_stream_name(table)
        wanted = alarms.delivery_alarms(self.config, stream_name, self.topic_arn) if self.topic_arn else ()
        return Observed(
            table,
            desc["TableStatus"] if desc else None,
            view,
            stream_arn,
            delivery_stream=naming.delivery_stream_name(table),
            delivery_status=delivery.status,
            delivery_owner=delivery.owner,
            draining_since=delivery.draining_since,
            delivery_processing=delivery.processing,
            wanted_processing=tenant_processing(self.config.tenant_attribute) if self.config.tenant_attribute else None,
            mappings=self.mappings(table, None if all_mappings else stream_arn),
            has_base=has_base,
            description=desc,
            wanted_alarms=wanted,
            wanted_batching=Batching(
                self.config.streams_max_records_batch, self.config.streams_batching_window_seconds
            ),
            alarms=self.alarms(stream_name) if self.topic_arn else None,
        )

    def describe_table(self, table: str) -> dict[str, Any] | None:
        try:
            return self.clients.dynamodb.describe_table(TableName=table)["Table"]  # type: ignore[no-any-return]
        except AwsNotFoundError:
            return None

    def wait_active(self, table: str) -> dict[str, Any]:
        """Bounded wait for ACTIVE; a table that disappears ends the wait at once."""

        def active() -> dict[str, Any] | None:
            desc = self.describe_table(table)
            if desc is None:
                raise TableNotFoundError(table, "it was deleted meanwhile")
            return desc if desc["TableStatus"] == "ACTIVE" else None

        result: dict[str, Any] = wait_until(
            active, f"table {table} to become ACTIVE", self.config.wait_timeout_seconds, 2.0, self.sleep
        )
        return result

    def delivery(self, table: str) -> Delivery:
        name = naming.delivery_stream_name(table)
        try:
            desc = self.clients.firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        except AwsNotFoundError:
            return Delivery()
        tags = self.clients.firehose.list_tags_for_delivery_stream(DeliveryStreamName=name).get("Tags", [])
        draining = next((t["Value"] for t in tags if t["Key"] == naming.TAG_DRAINING), None)
        destinations = desc.get("Destinations") or [{}]
        processing = (destinations[0].get("ExtendedS3DestinationDescription") or {}).get("ProcessingConfiguration")
        return Delivery(
            desc["DeliveryStreamStatus"],
            naming.owned_table(tags),
            float(draining) if draining else None,
            processing or {},
        )

    def alarms(self, delivery_stream: str) -> dict[str, dict[str, Any]] | None:
        """The delivery stream's alarms that exist, by name; None when they cannot be read."""
        names = list(alarms.delivery_alarm_names(self.config, delivery_stream))
        try:
            found = self.clients.get("cloudwatch").describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm"])
        except AccessDeniedError as exc:
            log.warning("cannot read the alarms of %s, leaving them as they are: %s", delivery_stream, exc)
            return None
        return {a["AlarmName"]: a for a in found["MetricAlarms"]}

    def mappings(self, table: str, stream_arn: str | None) -> tuple[MappingState, ...]:
        """Our mappings of the table. With its stream known, one cheap filtered listing; else
        every mapping of the forwarder (only removal needs that)."""
        marker = f":table/{table}/stream/"
        query = {"FunctionName": self.config.forwarder_function_name}
        if stream_arn:
            query["EventSourceArn"] = stream_arn
        found = []
        for page in self.clients.lambda_.get_paginator("list_event_source_mappings").paginate(**query):
            for m in page["EventSourceMappings"]:
                if marker in m.get("EventSourceArn", ""):
                    modified = m.get("LastModified")
                    when = modified.timestamp() if hasattr(modified, "timestamp") else 0.0
                    # Lambda answers 0 for a stream mapping created without a window, moto nothing.
                    batching = Batching(int(m.get("BatchSize") or 0), int(m.get("MaximumBatchingWindowInSeconds") or 0))
                    found.append(MappingState(m["UUID"], m["State"], m["EventSourceArn"], when, batching))
        return tuple(found)
