"""Provisioner: observe one table, plan (see plan.py), execute. Every step is idempotent and
safe under concurrent callers: a Conflict / InUse answer means someone else did it, so we
describe again instead of failing."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..core import naming
from ..core.aws import Clients, error_code, is_code, wait_until
from ..core.config import Config
from ..core.errors import AwsError, BackupError, NotFoundError
from ..core.schema import saved_schema
from ..snapshot.bases import backfill_command, find_base
from . import drain
from .plan import WANTED_VIEW, MappingState, Observed, Plan, plan_ensure, plan_remove

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What ensure/remove did for one table."""

    table: str
    status: str  # protected | not_restorable | not_protectable | missing | excluded | draining | removed | failed
    actions: tuple[str, ...] = ()
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("protected", "removed", "excluded")

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "status": self.status, "actions": list(self.actions), "reason": self.reason}


def resolve_firehose_role(clients: Clients, config: Config) -> str:
    if config.firehose_delivery_role_arn:
        return config.firehose_delivery_role_arn
    name = f"{config.resource_prefix}-firehose"
    try:
        return str(clients.iam.get_role(RoleName=name)["Role"]["Arn"])
    except Exception as exc:
        if is_code(exc, "NoSuchEntity"):
            raise NotFoundError(
                f"IAM role {name} not found: run deploy.py first or set firehoseDeliveryRoleArn"
            ) from None
        raise


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

    # -- observe ---------------------------------------------------------------------------
    def observe(self, table: str, all_mappings: bool = False) -> Observed:
        """Describe the table (waiting out CREATING/UPDATING), its delivery stream and our mappings:
        those on its current stream, or with `all_mappings` those on any stream it ever had."""
        desc = self._describe_table(table)
        if desc is not None and desc["TableStatus"] in ("CREATING", "UPDATING"):
            desc = self._wait_active(table)
        spec = (desc or {}).get("StreamSpecification") or {}
        view = spec.get("StreamViewType") if spec.get("StreamEnabled") else None
        stream_arn = desc.get("LatestStreamArn") if desc and view else None
        return Observed(
            table,
            desc["TableStatus"] if desc else None,
            view,
            stream_arn,
            delivery_stream=naming.delivery_stream_name(table),
            **self._observe_delivery(table),
            mappings=self._mappings(table, None if all_mappings else stream_arn),
            description=desc,
        )

    def _describe_table(self, table: str) -> dict[str, Any] | None:
        try:
            return self.clients.dynamodb.describe_table(TableName=table)["Table"]  # type: ignore[no-any-return]
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException"):
                return None
            raise

    def _wait_active(self, table: str) -> dict[str, Any]:
        """Bounded wait for ACTIVE; a table that disappears ends the wait at once."""

        def active() -> dict[str, Any] | None:
            desc = self._describe_table(table)
            if desc is None:
                raise NotFoundError(f"table {table} was deleted")
            return desc if desc["TableStatus"] == "ACTIVE" else None

        result: dict[str, Any] = wait_until(
            active, f"table {table} to become ACTIVE", self.config.wait_timeout_seconds, 2.0, self.sleep
        )
        return result

    def _observe_delivery(self, table: str) -> dict[str, Any]:
        name = naming.delivery_stream_name(table)
        try:
            desc = self.clients.firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException"):
                return {"delivery_status": None}
            raise
        tags = self.clients.firehose.list_tags_for_delivery_stream(DeliveryStreamName=name).get("Tags", [])
        draining = next((t["Value"] for t in tags if t["Key"] == naming.TAG_DRAINING), None)
        return {
            "delivery_status": desc["DeliveryStreamStatus"],
            "delivery_owner": naming.owned_table(tags),
            "draining_since": float(draining) if draining else None,
        }

    def _mappings(self, table: str, stream_arn: str | None) -> tuple[MappingState, ...]:
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
                    found.append(MappingState(m["UUID"], m["State"], m["EventSourceArn"], when))
        return tuple(found)

    # -- ensure / remove ---------------------------------------------------------------------
    def ensure(self, table: str, dry_run: bool = False) -> Result:
        """Make the table protected; report what was done or why it cannot be."""
        obs = self.observe(table)
        plan = plan_ensure(obs)
        if plan.status != "protected":
            return Result(table, plan.status, plan.steps, plan.reason)
        if dry_run:  # refreshing the saved schema alone does not count as a change to plan
            changes = [s for s in plan.steps if s != "save_schema"]
            if obs.description and find_base(self.clients, self.config, table, obs.description) is None:
                changes.append("snapshot")
            steps = (*plan.steps, "snapshot") if "snapshot" in changes else plan.steps
            return Result(table, "planned" if changes else "protected", steps)
        done: list[str] = []
        for step in plan.steps:
            try:
                if getattr(self, f"_{step}")(obs, plan):
                    done.append(step)
            except Exception:
                if self._describe_table(table) is None:  # DeleteTable won the race
                    return Result(
                        table,
                        "missing",
                        tuple(done),
                        "table was deleted while being provisioned; the reconcile removes what was created for it",
                    )
                raise
            obs = self.observe(table) if step == "enable_stream" else obs
        # Capture alone does not make a table restorable: the items written before it began are
        # only in a base. Every ensure takes one while the current stream has none.
        status, reason = self._ensure_base(obs)
        if status == "snapshot":
            done.append("snapshot")
            status = "protected"
        return Result(table, status, tuple(done), reason)

    def _ensure_base(self, obs: Observed) -> tuple[str, str]:
        """("protected"|"snapshot", "") when a base exists or was just taken, else why not."""
        table = obs.table
        if obs.description is None or find_base(self.clients, self.config, table, obs.description) is not None:
            return "protected", ""
        fix = f"run `{backfill_command(table)}`"
        if not self.config.snapshot_on_enable:
            return "not_restorable", f"no complete base snapshot (snapshotOnEnable is off): {fix}"
        limit = self.config.snapshot_max_items
        if int(obs.description.get("ItemCount") or 0) > limit:  # known large: do not scan to find out
            return "not_restorable", f"no complete base snapshot; over snapshotMaxItems ({limit} items): {fix}"
        from ..snapshot.backfill import Backfill, HandOff

        try:
            Backfill(self.clients, self.config, table, segments=1, sleep=self.sleep, max_items=limit).run()
        except HandOff:
            log.warning("table %s is large: %s to snapshot it", table, fix)
            return "not_restorable", f"no complete base snapshot; over snapshotMaxItems ({limit} items): {fix}"
        except (BackupError, ClientError, BotoCoreError) as exc:
            code = error_code(exc) or type(exc).__name__
            log.warning("snapshot of %s failed (%s); the next reconcile retries", table, code)
            return "not_restorable", f"base snapshot failed ({code}); the next reconcile retries, or {fix}"
        return "snapshot", ""

    def remove(self, table: str, dry_run: bool = False, wait: bool = False) -> Result:
        """Drain, then remove our mapping and delivery stream; S3 data stays."""
        interval = self.config.firehose_delivery_interval_seconds
        buffer = interval + max(5, interval // 2)  # Firehose flushes within its interval, plus margin
        deadline = self.clock() + self.config.drain_seconds + buffer + self.config.wait_timeout_seconds
        done: list[str] = []
        while True:
            obs = self._observe_drain(table)
            plan = plan_remove(obs, self.clock(), self.config.drain_seconds, buffer, drain.STREAM_RETENTION_SECONDS)
            if dry_run:
                return Result(table, plan.status, plan.steps, plan.reason)
            for step in plan.steps:
                getattr(self, f"_{step}")(obs, plan)
                done.append(step)
            if plan.status == "removed" or not wait:
                return Result(table, plan.status, tuple(done), plan.reason)
            if self.clock() >= deadline:
                return Result(table, "draining", tuple(done), f"{plan.reason}; the hourly reconcile finishes it")
            self.sleep(min(10.0, max(1.0, self.config.drain_seconds / 4)))

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

    # -- steps (each returns True when it changed something) --------------------------------
    def _enable_stream(self, obs: Observed, plan: Plan) -> bool:
        try:
            self.clients.dynamodb.update_table(
                TableName=obs.table, StreamSpecification={"StreamEnabled": True, "StreamViewType": WANTED_VIEW}
            )
        except Exception as exc:
            # AWS says ValidationException, moto ResourceInUseException: enabled meanwhile.
            if not is_code(exc, "ValidationException", "ResourceInUseException"):
                raise
            return False
        self._wait_active(obs.table)
        return True

    def _create_delivery_stream(self, obs: Observed, plan: Plan) -> bool:
        c = self.config
        dest: dict[str, Any] = {
            "RoleARN": self._firehose_role or resolve_firehose_role(self.clients, c),
            "BucketARN": f"arn:aws:s3:::{c.firehose_delivery_bucket}",
            "Prefix": naming.changes_prefix(c.prefix, obs.table),
            "ErrorOutputPrefix": naming.errors_prefix(c.prefix, obs.table),
            "BufferingHints": {
                "SizeInMBs": c.firehose_delivery_size_mb,
                "IntervalInSeconds": c.firehose_delivery_interval_seconds,
            },
            "CompressionFormat": c.firehose_compression,
        }
        extra: dict[str, Any] = {}
        if c.kms_key_arn:
            dest["EncryptionConfiguration"] = {"KMSEncryptionConfig": {"AWSKMSKeyARN": c.kms_key_arn}}
            extra["DeliveryStreamEncryptionConfigurationInput"] = {
                "KeyType": "CUSTOMER_MANAGED_CMK",
                "KeyARN": c.kms_key_arn,
            }
        try:
            self.clients.firehose.create_delivery_stream(
                DeliveryStreamName=obs.delivery_stream,
                DeliveryStreamType="DirectPut",
                ExtendedS3DestinationConfiguration=dest,
                Tags=naming.ownership_tags(obs.table),
                **extra,
            )
            created = True
        except Exception as exc:
            if not is_code(exc, "ResourceInUseException"):
                raise
            created = False

        def ours_and_active() -> bool:
            seen = self._observe_delivery(obs.table)
            if seen["delivery_owner"] != obs.table:
                raise AwsError(f"delivery stream {obs.delivery_stream} was created by someone else meanwhile")
            return bool(seen["delivery_status"] == "ACTIVE")

        wait_until(
            ours_and_active,
            f"delivery stream {obs.delivery_stream} to become ACTIVE",
            self.config.wait_timeout_seconds,
            2.0,
            self.sleep,
        )
        return created

    def _cancel_draining(self, obs: Observed, plan: Plan) -> bool:
        self.clients.firehose.untag_delivery_stream(
            DeliveryStreamName=obs.delivery_stream, TagKeys=[naming.TAG_DRAINING]
        )
        return True

    def _create_mapping(self, obs: Observed, plan: Plan) -> bool:
        c = self.config
        try:
            self.clients.lambda_.create_event_source_mapping(
                EventSourceArn=obs.stream_arn,
                FunctionName=c.forwarder_function_name,
                StartingPosition="TRIM_HORIZON",
                BatchSize=c.streams_max_records_batch,
                FunctionResponseTypes=["ReportBatchItemFailures"],
                BisectBatchOnFunctionError=True,
                MaximumRetryAttempts=c.maximum_retry_attempts,
                Enabled=True,
            )
        except Exception as exc:
            if is_code(exc, "ResourceConflictException"):
                return False
            if is_code(exc, "ResourceNotFoundException"):
                raise NotFoundError(
                    f"forwarder function {c.forwarder_function_name} not found: run deploy.py"
                ) from None
            raise
        # A concurrent ensure may have created one too: converge on the oldest.
        again = plan_ensure(self.observe(obs.table))
        if again.drop_mappings:
            self._delete_mappings(obs, again)
        return True

    def _enable_mapping(self, obs: Observed, plan: Plan) -> bool:
        current = [m for m in obs.mappings if m.stream_arn == obs.stream_arn and m.uuid not in plan.drop_mappings]
        for m in current:
            self.clients.lambda_.update_event_source_mapping(UUID=m.uuid, Enabled=True)
        return bool(current)

    def _delete_duplicate_mappings(self, obs: Observed, plan: Plan) -> bool:
        return self._delete_mappings(obs, plan)

    def _delete_mappings(self, obs: Observed, plan: Plan) -> bool:
        for uuid in plan.drop_mappings:
            try:
                self.clients.lambda_.delete_event_source_mapping(UUID=uuid)
            except Exception as exc:
                if not is_code(exc, "ResourceNotFoundException", "ResourceInUseException"):
                    raise
        return bool(plan.drop_mappings)

    def _mark_draining(self, obs: Observed, plan: Plan) -> bool:
        self.clients.firehose.tag_delivery_stream(
            DeliveryStreamName=obs.delivery_stream, Tags=[{"Key": naming.TAG_DRAINING, "Value": f"{self.clock():.3f}"}]
        )
        return True

    def _delete_delivery_stream(self, obs: Observed, plan: Plan) -> bool:
        try:
            self.clients.firehose.delete_delivery_stream(DeliveryStreamName=obs.delivery_stream)
        except Exception as exc:
            if not is_code(exc, "ResourceNotFoundException", "ResourceInUseException"):
                raise
        return True

    def save_schema(self, table: str) -> bool:
        """Save (or refresh) one table's schema beside its backups; True when it changed."""
        return self._save_schema(self.observe(table), Plan())

    def _save_schema(self, obs: Observed, plan: Plan) -> bool:
        """Keep the table's schema beside its backups so restore can recreate a deleted table."""
        desc = obs.description
        if desc is None:
            return False
        schema = saved_schema(desc)
        try:
            ttl = self.clients.dynamodb.describe_time_to_live(TableName=obs.table)["TimeToLiveDescription"]
            schema["TimeToLiveDescription"] = ttl
        except Exception as exc:
            log.warning("TTL of %s not read: %s", obs.table, exc)
        body = json.dumps(schema, sort_keys=True, default=str).encode()
        key = naming.schema_key(self.config.prefix, obs.table)
        bucket = self.config.firehose_delivery_bucket
        try:
            if self.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body:
                return False
        except Exception as exc:
            if not is_code(exc, "NoSuchKey", "404"):
                raise
        self.clients.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        return True
