"""The export and import polls and the restore's write retries, on moto behind fault injectors:
each waits with core/retry.py (doubling polls, full-jitter backoff), bounded, with a clear error."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import AwsError, WaitTimeoutError
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.importer import import_state
from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer
from dynamo_continuous_backup.restore.tablewrite import BatchWriter
from dynamo_continuous_backup.snapshot.export import export_snapshot

from ..fakes import FakeTime
from ..helpers import BUCKET, REGION, contents


class SlowJobs:
    """moto's DynamoDB whose exports and imports report IN_PROGRESS for `polls` describes, then
    moto's own answer, or `final` over it."""

    def __init__(self, real: Any, polls: int, final: dict[str, Any] | None = None) -> None:
        self.real, self.polls, self.final = real, polls, final or {}
        self.described = 0

    def _running(self, answer: dict[str, Any], field: str, status: str) -> dict[str, Any]:
        answer[field][status] = "IN_PROGRESS"
        return answer

    def _described(self, answer: dict[str, Any], field: str, status: str) -> dict[str, Any]:
        self.described += 1
        if self.described <= self.polls:
            return self._running(answer, field, status)
        answer[field].update(self.final)
        return answer

    def export_table_to_point_in_time(self, **kwargs: Any) -> Any:
        return self._running(self.real.export_table_to_point_in_time(**kwargs), "ExportDescription", "ExportStatus")

    def describe_export(self, **kwargs: Any) -> Any:
        return self._described(self.real.describe_export(**kwargs), "ExportDescription", "ExportStatus")

    def import_table(self, **kwargs: Any) -> Any:
        return self._running(self.real.import_table(**kwargs), "ImportTableDescription", "ImportStatus")

    def describe_import(self, **kwargs: Any) -> Any:
        return self._described(self.real.describe_import(**kwargs), "ImportTableDescription", "ImportStatus")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def with_dynamodb(aws: Clients, dynamodb: Any) -> Clients:
    clients = Clients(aws.region)
    clients.get = lambda service: dynamodb if service == "dynamodb" else aws.get(service)  # type: ignore[method-assign]
    return clients


@pytest.fixture
def pitr(aws: Clients, config: Config, make_table: Callable[..., str]) -> str:
    make_table("pitr")
    aws.dynamodb.put_item(TableName="pitr", Item={"pk": {"S": "a"}})
    aws.dynamodb.update_continuous_backups(
        TableName="pitr", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return "pitr"


def test_a_slow_export_is_polled_with_a_doubling_interval(aws: Clients, config: Config, pitr: str) -> None:
    t, slow = FakeTime(), SlowJobs(aws.dynamodb, polls=7)
    result = export_snapshot(with_dynamodb(aws, slow), config, pitr, sleep=t.sleep, clock=t.clock)
    assert result.kind == "export" and slow.described == 8
    assert t.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]  # doubling, at most every 30 s


def test_a_failed_export_names_its_failure(aws: Clients, config: Config, pitr: str) -> None:
    failed = {"ExportStatus": "FAILED", "FailureCode": "S3AccessDenied", "FailureMessage": "bucket policy denies it"}
    slow = SlowJobs(aws.dynamodb, polls=1, final=failed)
    with pytest.raises(AwsError, match="export of pitr failed: S3AccessDenied: bucket policy denies it"):
        export_snapshot(with_dynamodb(aws, slow), config, pitr, sleep=lambda s: None)


def test_an_export_that_never_ends_times_out(aws: Clients, config: Config, pitr: str) -> None:
    t = FakeTime()
    slow = SlowJobs(aws.dynamodb, polls=10**9)
    with pytest.raises(WaitTimeoutError, match=r"timed out after 600s waiting for the export of pitr \(arn:"):
        export_snapshot(with_dynamodb(aws, slow), config, pitr, sleep=t.sleep, timeout=600, clock=t.clock)
    assert 600 <= t.now <= 630


SCHEMA = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
}


def run_import(aws: Clients, config: Config, tmp_path: Path, slow: SlowJobs, t: FakeTime, timeout: float) -> Any:
    rows = iter([("a", '{"pk": {"S": "a"}}', None)])
    store = BackupStore(aws, config, tmp_path)
    return import_state(with_dynamodb(aws, slow), store, SCHEMA, "imported", rows, t.sleep, timeout, t.clock)


def test_a_slow_import_is_polled_then_done(aws: Clients, config: Config, tmp_path: Path) -> None:
    t, slow = FakeTime(), SlowJobs(aws.dynamodb, polls=3)
    done = run_import(aws, config, tmp_path, slow, t, timeout=3600)
    assert done.items == 1 and t.sleeps == [0.5, 1.0, 2.0]


def test_a_failed_import_names_its_failure(aws: Clients, config: Config, tmp_path: Path) -> None:
    failed = {"ImportStatus": "FAILED", "FailureCode": "ItemValidationError", "FailureMessage": "bad item"}
    with pytest.raises(AwsError, match="import into imported ended FAILED: ItemValidationError: bad item"):
        run_import(aws, config, tmp_path, SlowJobs(aws.dynamodb, polls=0, final=failed), FakeTime(), timeout=3600)


def test_an_import_that_never_ends_times_out(aws: Clients, config: Config, tmp_path: Path) -> None:
    with pytest.raises(WaitTimeoutError, match="waiting for the import into imported"):
        run_import(aws, config, tmp_path, SlowJobs(aws.dynamodb, polls=10**9), FakeTime(), timeout=120)


class SlowCreate:
    """moto's DynamoDB where a created table stays CREATING for `describes` DescribeTable calls."""

    def __init__(self, real: Any, describes: int) -> None:
        self.real, self.describes, self.created = real, describes, False

    def create_table(self, **kwargs: Any) -> Any:
        self.created = True
        return self.real.create_table(**kwargs)

    def describe_table(self, **kwargs: Any) -> Any:
        answer = self.real.describe_table(**kwargs)
        if self.created and self.describes:
            self.describes -= 1
            answer["Table"]["TableStatus"] = "CREATING"
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_restore_waits_for_the_table_it_created_to_be_active(aws: Clients, config: Config, tmp_path: Path) -> None:
    line = {"Keys": {"pk": {"S": "a"}}, "NewImage": {"pk": {"S": "a"}}, "SequenceNumber": "1", "eventName": "INSERT"}
    aws.s3.put_object(Bucket=BUCKET, Key="backups/@schemas/src/schema.json", Body=json.dumps(SCHEMA).encode())
    aws.s3.put_object(Bucket=BUCKET, Key="backups/src/2026/01/01/00/x", Body=json.dumps(line).encode())
    t = FakeTime()
    target = with_dynamodb(aws, SlowCreate(aws.dynamodb, describes=3))
    result = Restorer(target, BackupStore(aws, config, tmp_path), sleep=t.sleep).restore(
        "src", "dst", RestoreOptions(from_start=True)
    )
    assert result.verified and result.items == 1 and t.sleeps == [2.0, 2.0, 2.0]


class ThrottledWrites:
    """A raw boto3 client (botocore's exceptions, not ours) whose first `throttles` BatchWriteItem
    calls are throttled, or that rejects every call with `code`."""

    def __init__(self, throttles: int = 0, code: str = "ProvisionedThroughputExceededException") -> None:
        self.raw = boto3.client("dynamodb", region_name=REGION)
        self.throttles, self.code = throttles, code

    def batch_write_item(self, **kwargs: Any) -> Any:
        if self.throttles:
            self.throttles -= 1
            raise ClientError({"Error": {"Code": self.code, "Message": "slow down"}}, "BatchWriteItem")
        return self.raw.batch_write_item(**kwargs)


def puts(n: int) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(n)]


def test_throttled_writes_back_off_with_full_jitter_then_write_everything(
    aws: Clients, make_table: Callable[..., str]
) -> None:
    make_table("target")
    t = FakeTime()
    writer = BatchWriter(ThrottledWrites(throttles=6), "target", threads=1, sleep=t.sleep)
    assert writer.write(puts(10)) == 10 and len(contents(aws, "target", ("pk",))) == 10
    assert len(t.sleeps) == 6 and all(0 <= s <= min(5.0, 0.05 * 2 ** (n + 1)) for n, s in enumerate(t.sleeps))


def test_writes_that_stay_throttled_fail_loudly_at_the_deadline(aws: Clients, make_table: Callable[..., str]) -> None:
    make_table("target")
    writer = BatchWriter(ThrottledWrites(throttles=10**9), "target", threads=1, sleep=lambda s: None, give_up_after=0)
    with pytest.raises(AwsError, match="10 items still unprocessed by target after 0s"):
        writer.write(puts(10))


def test_a_write_error_waiting_cannot_fix_fails_at_once(aws: Clients, make_table: Callable[..., str]) -> None:
    make_table("target")
    t = FakeTime()
    writer = BatchWriter(ThrottledWrites(throttles=1, code="ValidationException"), "target", sleep=t.sleep)
    with pytest.raises(AwsError, match="ValidationException from BatchWriteItem"):
        writer.write(puts(3))
    assert t.sleeps == []
