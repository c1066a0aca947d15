"""`dynamo-backup jobs` on the emulator: backfills listed with their segments, an interrupted
one with its resume command, `jobs cancel` stopping a running backfill (which then resumes to a
base equal to the table), a CLI checkpoint, exports, imports and Athena queries."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import AccessDeniedError, CancelledError
from dynamo_continuous_backup.operations.jobs import Job
from dynamo_continuous_backup.operations.observe import JobObserver
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.checkpoint import Checkpointer
from dynamo_continuous_backup.snapshot.backfill import Backfill
from dynamo_continuous_backup.snapshot.export import export_snapshot

from ..fakes import FaultyDynamo, Killed, Proxy, client_error
from ..helpers import BUCKET, cli, files, s3_records
from .test_checkpoint import synthesize

ITEMS = 300


@pytest.fixture
def orders(aws: Clients, config: Config, make_table: Callable[..., str]) -> str:
    make_table("orders")
    for i in range(ITEMS):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{i:04d}"}, "n": {"N": str(i)}})
    return "orders"


@pytest.fixture
def config_file(config: Config, tmp_path: Path) -> str:
    return files(tmp_path, config, "{}")[1]


def only(jobs: list[Job], kind: str) -> Job:
    (job,) = [j for j in jobs if j.kind == kind]
    return job


def snapshot_keys(aws: Clients, run_id: str) -> list[str]:
    return [r["Keys"]["pk"]["S"] for r in s3_records(aws, f"backups/@snapshots/orders/{run_id}/segment-")]


def test_a_completed_backfill_is_listed_succeeded_with_its_segments(
    aws: Clients, config: Config, orders: str, config_file: str
) -> None:
    run = Backfill(aws, config, orders, segments=4, page_limit=50).run()
    code, out, err = cli("jobs", "orders", "--config", config_file, "--json")
    assert code == 0, err
    (job,) = json.loads(out)["jobs"]
    assert job["id"] == f"orders/{run.run_id}" and job["kind"] == "backfill" and job["state"] == "succeeded"
    assert job["progress"] == {"done": 4, "failed": 0, "total": 4, "items": ITEMS, "bytes": None}
    assert job["started"] and job["ended"] and not job["cancellable"]
    code, out, _ = cli("jobs", "--config", config_file)  # every table: the table form
    assert code == 0 and f"orders/{run.run_id}  backfill  orders  succeeded  4/4 segments, 300 items" in out


def test_an_interrupted_backfill_is_listed_with_its_resume_command(aws: Clients, config: Config, orders: str) -> None:
    faulty = FaultyDynamo(aws.dynamodb, kill_segment=1, kill_after=2)
    with pytest.raises(Killed):
        Backfill(aws, config, orders, segments=4, dynamodb=faulty, part_bytes=1, page_limit=10).run()
    running = only(JobObserver(aws, config).jobs("orders", 0), "backfill")
    assert running.state == "running"  # it wrote a moment ago: it may still be going
    later = JobObserver(aws, config, clock=lambda: time.time() + 1000)  # no progress for 16 min
    job = only(later.jobs("orders", 0), "backfill")
    run_id = job.id.split("/")[1]
    assert job.state == "interrupted" and job.progress.done == 3 and job.progress.total == 4
    assert job.resume == f"dynamo-backup backfill orders --config <your config> --resume {run_id}"


def test_a_failed_segment_is_counted_and_named(aws: Clients, config: Config, orders: str) -> None:
    class Denied(Proxy):
        def __init__(self, real: Any) -> None:
            self.real = real

        def scan(self, **kwargs: Any) -> Any:
            if kwargs["Segment"] == 2:
                raise client_error("AccessDeniedException", "Scan", message="no scan for you")
            return self.real.scan(**kwargs)

    with pytest.raises(AccessDeniedError):
        Backfill(aws, config, orders, segments=4, dynamodb=Denied(aws.dynamodb)).run()
    job = only(JobObserver(aws, config, clock=lambda: time.time() + 1000).jobs("orders", 0), "backfill")
    assert job.state == "failed" and job.progress.failed == 1 and job.progress.done == 3
    assert "AccessDeniedException" in job.detail and "--resume" in job.resume


class Gated(Proxy):
    """A real DynamoDB whose scans wait at `gate` once `after` pages were read (a slow scan)."""

    def __init__(self, real: Any, after: int) -> None:
        self.real, self.after, self.pages = real, after, 0
        self.gate, self.reached = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def scan(self, **kwargs: Any) -> Any:
        with self._lock:
            self.pages += 1
            wait = self.pages > self.after
        if wait:
            self.reached.set()
            assert self.gate.wait(20)
        return self.real.scan(**kwargs)


def test_cancel_stops_a_running_backfill_which_then_resumes_to_the_table(
    aws: Clients, config: Config, orders: str, config_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a backfill running in a thread, its scan held after 8 pages (parts of 16 MB: nothing flushed yet)
    monkeypatch.setattr("dynamo_continuous_backup.core.cancel.CHECK_SECONDS", 0.0)
    gated = Gated(aws.dynamodb, after=8)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            Backfill(aws, config, orders, segments=2, dynamodb=gated, page_limit=10).run()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert gated.reached.wait(20)
    job = only(JobObserver(aws, config).jobs("orders", 0), "backfill")
    assert job.state == "running" and job.cancellable
    # WHEN it is cancelled (twice: idempotent), then its scan goes on
    for _ in range(2):
        code, out, err = cli("jobs", "cancel", job.id, "--config", config_file)
        assert code == 0 and "cancel requested" in out and "--resume" in out, err
    gated.gate.set()
    worker.join(20)
    # THEN it stopped with the resume command, kept what it had scanned, and is listed cancelled
    assert len(failure) == 1 and isinstance(failure[0], CancelledError) and "--resume" in str(failure[0])
    stopped = only(JobObserver(aws, config).jobs("orders", 0), "backfill")
    assert stopped.state == "cancelled" and 0 < (stopped.progress.items or 0) < ITEMS
    code, out, _ = cli("jobs", "cancel", job.id, "--config", config_file)
    assert code == 0 and "already ended (cancelled)" in out
    # AND resuming it completes a base equal to the table, every item once
    run_id = job.id.split("/")[1]
    result = Backfill(aws, config, orders, segments=2, page_limit=10).run(run_id)
    assert result.items == ITEMS and sorted(snapshot_keys(aws, run_id)) == [f"k{i:04d}" for i in range(ITEMS)]
    assert only(JobObserver(aws, config).jobs("orders", 0), "backfill").state == "succeeded"


def test_cancel_stops_a_cli_checkpoint_before_its_manifest(
    aws: Clients, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthesize(aws, "orders", seed=3)
    store = BackupStore(aws, config, tmp_path)
    observer = JobObserver(aws, config)
    syncing = store.sync

    def sync_then_cancel(*args: Any, **kwargs: Any) -> Any:
        (job,) = [j for j in observer.jobs("orders", 0) if j.kind == "checkpoint"]
        assert job.state == "running" and job.cancellable
        from dynamo_continuous_backup.operations.cancel import cancel

        assert "cancel requested" in cancel(observer, job.id)
        return syncing(*args, **kwargs)

    monkeypatch.setattr(store, "sync", sync_then_cancel)
    at = float(int(time.time()) - 5)
    with pytest.raises(CancelledError, match="no base written.*dynamo-backup checkpoint orders"):
        Checkpointer(store).run("orders", at)
    job = only(observer.jobs("orders", 0), "checkpoint")
    assert job.state == "cancelled" and "checkpoint orders" in job.resume
    monkeypatch.setattr(store, "sync", syncing)
    result = Checkpointer(store).run("orders", at)  # the same run again goes on: the marker is removed
    assert result.items > 0 and f"orders/{result.run_id}" == job.id
    assert only(observer.jobs("orders", 0), "checkpoint").state == "succeeded"


def test_an_export_is_listed_and_cannot_be_cancelled(
    aws: Clients, config: Config, orders: str, config_file: str
) -> None:
    aws.dynamodb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    result = export_snapshot(aws, config, "orders", sleep=lambda s: time.sleep(0.05))
    jobs = JobObserver(aws, config).jobs("orders", 0)
    job = only(jobs, "export")  # its base's folder is not listed again as a backfill
    assert job.id.startswith("orders/export/") and job.state == "succeeded" and job.detail == f"base {result.run_id}"
    code, out, err = cli("jobs", "cancel", job.id, "--config", config_file)
    assert code == 2 and "AWS cannot cancel an ExportTableToPointInTime job" in err and out == ""


def test_only_our_imports_are_listed_and_none_can_be_cancelled(aws: Clients, config: Config, config_file: str) -> None:
    def start(target: str, prefix: str) -> str:
        body = gzip.compress(json.dumps({"Item": {"pk": {"S": "a"}}}).encode() + b"\n")
        aws.s3.put_object(Bucket=BUCKET, Key=f"{prefix}data-00000.json.gz", Body=body)
        return str(
            aws.dynamodb.import_table(
                S3BucketSource={"S3Bucket": BUCKET, "S3KeyPrefix": prefix},
                InputFormat="DYNAMODB_JSON",
                InputCompressionType="GZIP",
                TableCreationParameters={
                    "TableName": target,
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            )["ImportTableDescription"]["ImportArn"]
        )

    ours = start("orders-r", "backups/@imports/orders-r/20260101T000000Z-abcd1234/")
    start("theirs", "elsewhere/")
    for _ in range(100):
        if aws.dynamodb.describe_import(ImportArn=ours)["ImportTableDescription"]["ImportStatus"] != "IN_PROGRESS":
            break
        time.sleep(0.05)
    code, out, err = cli("jobs", "--config", config_file, "--json")
    assert code == 0, err
    (job,) = json.loads(out)["jobs"]
    assert job["id"] == "orders-r/import/" + ours.split("/import/")[1] and job["state"] == "succeeded"
    assert job["progress"]["items"] == 1 and job["table"] == "orders-r"
    code, _, err = cli("jobs", "cancel", job["id"], "--config", config_file)
    assert code == 2 and "AWS cannot cancel an ImportTable job" in err


def test_athena_queries_of_ours_are_listed_and_cancelled(aws: Clients, config: Config, config_file: str) -> None:
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="athena::execution", transition={"progression": "manual", "times": 99})
    try:
        athena = aws.get("athena")
        ours = athena.start_query_execution(
            QueryString="SELECT * FROM orders_versions",
            WorkGroup="primary",
            ResultConfiguration={"OutputLocation": f"s3://{BUCKET}/backups/@athena/"},
        )["QueryExecutionId"]
        athena.start_query_execution(
            QueryString="SELECT 1", WorkGroup="primary", ResultConfiguration={"OutputLocation": "s3://other/"}
        )
        code, out, err = cli("jobs", "--config", config_file, "--json")
        assert code == 0, err
        (job,) = json.loads(out)["jobs"]
        assert job["id"] == f"@athena/{ours}" and job["state"] == "running" and job["cancellable"]
        code, out, _ = cli("jobs", "cancel", job["id"], "--config", config_file)
        assert code == 0 and "query stopped" in out
        assert athena.get_query_execution(QueryExecutionId=ours)["QueryExecution"]["Status"]["State"] == "CANCELLED"
        code, out, _ = cli("jobs", "cancel", job["id"], "--config", config_file)
        assert code == 0 and "already ended (cancelled)" in out
    finally:
        state_manager.unset_transition("athena::execution")


@pytest.mark.parametrize(
    "job_id", ["orders/20260101T000000Z-deadbeef", "nonsense", "@athena/not-a-query-id", "orders/../x"]
)
def test_an_unknown_job_id_exits_3(aws: Clients, config: Config, config_file: str, job_id: str) -> None:
    code, out, err = cli("jobs", "cancel", job_id, "--config", config_file)
    assert code == 3 and f"no job {job_id}" in err and out == ""


def test_a_table_named_cancel_is_listed_and_three_words_are_refused(
    aws: Clients, config: Config, config_file: str
) -> None:
    code, _, err = cli("jobs", "cancel", "--config", config_file)  # no table of that name: say how to cancel
    assert code == 2 and "no table cancel" in err and "jobs cancel ID" in err
    aws.dynamodb.create_table(
        TableName="cancel",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    code, out, _ = cli("jobs", "cancel", "--config", config_file)
    assert code == 0 and out.startswith("ID")
    code, _, err = cli("jobs", "orders", "x", "--config", config_file)
    assert code == 2 and "usage" in err
