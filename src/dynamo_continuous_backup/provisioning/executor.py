"""Applying a table's plan through the AWS facade. Every step is idempotent and safe under
concurrent callers: a Conflict / InUse answer means someone else did it, so we describe again
instead of failing. The dry run's executor is `steps.PrintingExecutor`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, assert_never

from ..core import naming
from ..core.aws import Clients, wait_until
from ..core.config import Config
from ..core.errors import AwsError, AwsNotFoundError, BackupError, ConflictError, NotFoundError
from ..core.schema import saved_schema
from ..snapshot.bases import backfill_command, find_base
from .destination import s3_destination
from .observe import Observer
from .plan import Observed, plan_ensure
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

log = logging.getLogger(__name__)

# A delete answered with these: deleted, or being deleted, by someone else.
GONE = ("ResourceNotFoundException", "ResourceInUseException")


class Executor(Protocol):
    """Applies one step of a table's plan; True when it changed something."""

    dry_run: bool

    def apply(self, step: TableStep, obs: Observed) -> bool: ...


class NotRestorable(Exception):
    """TakeSnapshot could not take a base now; `reason` says why and what to run."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def resolve_firehose_role(clients: Clients, config: Config) -> str:
    if config.firehose_delivery_role_arn:
        return config.firehose_delivery_role_arn
    name = f"{config.resource_prefix}-firehose"
    try:
        return str(clients.iam.get_role(RoleName=name)["Role"]["Arn"])
    except AwsNotFoundError:
        raise NotFoundError(f"IAM role {name} not found: run deploy.py first or set firehoseDeliveryRoleArn") from None


@dataclass
class AwsExecutor:
    """Applies a table's steps through the AWS facade. `apply` gets the table as observed
    before the step (the provisioner observes it again after an EnableStream)."""

    observer: Observer
    firehose_role_arn: str | None = None
    dry_run = False

    @property
    def clients(self) -> Clients:
        return self.observer.clients

    @property
    def config(self) -> Config:
        return self.observer.config

    @property
    def sleep(self) -> Callable[[float], None]:
        return self.observer.sleep

    def apply(self, step: TableStep, obs: Observed) -> bool:
        log.debug("%s", step)
        match step:
            case EnableStream():
                return self.enable_stream(step)
            case CreateDeliveryStream():
                return self.create_delivery_stream(step)
            case UpdateDeliveryProcessing():
                return self.update_delivery_processing(step)
            case CancelDraining():
                return self.cancel_draining(step)
            case CreateMapping():
                return self.create_mapping(step, obs)
            case EnableMapping():
                return self.enable_mapping(step)
            case UpdateMapping():
                return self.update_mapping(step)
            case DeleteDuplicateMappings() | DeleteMappings():
                return self.delete_mappings(step.uuids)
            case MarkDraining():
                return self.mark_draining(step)
            case DeleteDeliveryStream():
                return self.delete_delivery_stream(step)
            case PutDeliveryAlarms():
                for settings in step.settings:
                    self.clients.get("cloudwatch").put_metric_alarm(**settings)
                return True
            case DeleteDeliveryAlarms():  # deleting an alarm that is gone is no error
                self.clients.get("cloudwatch").delete_alarms(AlarmNames=list(step.names))
                return True
            case SaveSchema():
                return self.save_schema(obs)
            case TakeSnapshot():
                return self.take_snapshot(obs)
            case _:
                assert_never(step)

    def enable_stream(self, step: EnableStream) -> bool:
        try:
            self.clients.dynamodb.update_table(
                TableName=step.table, StreamSpecification={"StreamEnabled": True, "StreamViewType": step.view}
            )
        except AwsError as exc:
            # AWS says ValidationException, moto ResourceInUseException: enabled meanwhile.
            if exc.code not in ("ValidationException", "ResourceInUseException"):
                raise
            return False
        self.observer.wait_active(step.table)
        return True

    def update_delivery_processing(self, step: UpdateDeliveryProcessing) -> bool:
        """Set our delivery stream's processors; a concurrent change (another ensure) is no error:
        the next ensure compares again."""
        firehose = self.clients.firehose
        desc = firehose.describe_delivery_stream(DeliveryStreamName=step.name)["DeliveryStreamDescription"]
        if (
            naming.owned_table(firehose.list_tags_for_delivery_stream(DeliveryStreamName=step.name).get("Tags", []))
            != step.table
        ):
            return False  # never another consumer's stream
        try:
            firehose.update_destination(
                DeliveryStreamName=step.name,
                CurrentDeliveryStreamVersionId=desc["VersionId"],
                DestinationId=desc["Destinations"][0]["DestinationId"],
                ExtendedS3DestinationUpdate={"ProcessingConfiguration": step.processing},
            )
        except ConflictError:
            return False
        return True

    def create_delivery_stream(self, step: CreateDeliveryStream) -> bool:
        c = self.config
        dest = s3_destination(c, step.table, self.firehose_role_arn or resolve_firehose_role(self.clients, c))
        extra: dict[str, Any] = {}
        if c.kms_key_arn:
            extra["DeliveryStreamEncryptionConfigurationInput"] = {
                "KeyType": "CUSTOMER_MANAGED_CMK",
                "KeyARN": c.kms_key_arn,
            }
        try:
            self.clients.firehose.create_delivery_stream(
                DeliveryStreamName=step.name,
                DeliveryStreamType="DirectPut",
                ExtendedS3DestinationConfiguration=dest,
                Tags=naming.ownership_tags(step.table),
                **extra,
            )
            created = True
        except ConflictError:
            created = False

        def ours_and_active() -> bool:
            seen = self.observer.delivery(step.table)
            if seen.owner != step.table:
                raise AwsError(f"delivery stream {step.name} was created by someone else meanwhile")
            return seen.status == "ACTIVE"

        wait_until(
            ours_and_active, f"delivery stream {step.name} to become ACTIVE", c.wait_timeout_seconds, 2.0, self.sleep
        )
        return created

    def cancel_draining(self, step: CancelDraining) -> bool:
        self.clients.firehose.untag_delivery_stream(
            DeliveryStreamName=step.delivery_stream, TagKeys=[naming.TAG_DRAINING]
        )
        return True

    def create_mapping(self, step: CreateMapping, obs: Observed) -> bool:
        c = self.config
        try:
            self.clients.lambda_.create_event_source_mapping(
                EventSourceArn=step.stream_arn or obs.stream_arn,
                FunctionName=c.forwarder_function_name,
                StartingPosition="TRIM_HORIZON",
                BatchSize=c.streams_max_records_batch,
                MaximumBatchingWindowInSeconds=c.streams_batching_window_seconds,
                FunctionResponseTypes=["ReportBatchItemFailures"],
                BisectBatchOnFunctionError=True,
                MaximumRetryAttempts=c.maximum_retry_attempts,
                Enabled=True,
            )
        except ConflictError as exc:
            if exc.code != "ResourceConflictException":
                raise
            return False
        except AwsNotFoundError:
            raise NotFoundError(f"forwarder function {c.forwarder_function_name} not found: run deploy.py") from None
        # A concurrent ensure may have created one too: converge on the oldest.
        for again in plan_ensure(self.observer.observe(step.table)).steps:
            if isinstance(again, DeleteDuplicateMappings):
                self.delete_mappings(again.uuids)
        return True

    def enable_mapping(self, step: EnableMapping) -> bool:
        self.clients.lambda_.update_event_source_mapping(UUID=step.uuid, Enabled=True)
        return True

    def update_mapping(self, step: UpdateMapping) -> bool:
        try:
            self.clients.lambda_.update_event_source_mapping(
                UUID=step.uuid, BatchSize=step.batch_size, MaximumBatchingWindowInSeconds=step.window_seconds
            )
        except ConflictError:  # being created or updated by someone else: the next ensure looks again
            log.info("mapping %s of %s is busy; its batching is updated by the next ensure", step.uuid, step.table)
            return False
        return True

    def delete_mappings(self, uuids: tuple[str, ...]) -> bool:
        for uuid in uuids:
            try:
                self.clients.lambda_.delete_event_source_mapping(UUID=uuid)
            except AwsError as exc:
                if exc.code not in GONE:
                    raise
        return bool(uuids)

    def mark_draining(self, step: MarkDraining) -> bool:
        self.clients.firehose.tag_delivery_stream(
            DeliveryStreamName=step.delivery_stream, Tags=[{"Key": naming.TAG_DRAINING, "Value": f"{step.since:.3f}"}]
        )
        return True

    def delete_delivery_stream(self, step: DeleteDeliveryStream) -> bool:
        try:
            self.clients.firehose.delete_delivery_stream(DeliveryStreamName=step.name)
        except AwsError as exc:
            if exc.code not in GONE:
                raise
        return True

    def save_schema(self, obs: Observed) -> bool:
        """Keep the table's schema beside its backups so restore can recreate a deleted table."""
        desc = obs.description
        if desc is None:
            return False
        schema = saved_schema(desc)
        try:
            ttl = self.clients.dynamodb.describe_time_to_live(TableName=obs.table)["TimeToLiveDescription"]
            schema["TimeToLiveDescription"] = ttl
        except AwsError as exc:
            log.warning("TTL of %s not read: %s", obs.table, exc)
        body = json.dumps(schema, sort_keys=True, default=str).encode()
        key = naming.schema_key(self.config.prefix, obs.table)
        bucket = self.config.firehose_delivery_bucket
        try:
            if self.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body:
                return False
        except AwsNotFoundError as exc:
            if exc.code not in ("NoSuchKey", "404"):  # never saved; a missing bucket is an error
                raise
        self.clients.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        return True

    def take_snapshot(self, obs: Observed) -> bool:
        """A base of the current stream, unless one exists by now (another ensure took it);
        raises NotRestorable when it cannot be taken here."""
        table = obs.table
        if obs.description is None or find_base(self.clients, self.config, table, obs.description) is not None:
            return False
        fix = f"run `{backfill_command(table)}`"
        if not self.config.snapshot_on_enable:
            raise NotRestorable(f"no complete base snapshot (snapshotOnEnable is off): {fix}")
        limit = self.config.snapshot_max_items
        too_large = f"no complete base snapshot; over snapshotMaxItems ({limit} items): {fix}"
        if int(obs.description.get("ItemCount") or 0) > limit:  # known large: do not scan to find out
            raise NotRestorable(too_large)
        from ..snapshot.backfill import Backfill, HandOff

        try:
            Backfill(self.clients, self.config, table, segments=1, sleep=self.sleep, max_items=limit).run()
        except HandOff:
            log.warning("table %s is large: %s to snapshot it", table, fix)
            raise NotRestorable(too_large) from None
        except BackupError as exc:
            code = (exc.code if isinstance(exc, AwsError) else "") or type(exc).__name__
            log.warning("snapshot of %s failed (%s); the next reconcile retries", table, code)
            raise NotRestorable(f"base snapshot failed ({code}); the next reconcile retries, or {fix}") from None
        return True
