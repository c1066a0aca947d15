"""The jobs model: states and progress derived from what was observed, the cancel decisions,
the cancel check's cost, and which imports and queries are ours."""

from __future__ import annotations

import io
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import wrap
from dynamo_continuous_backup.core.cancel import CancelWatch
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import UserInputError
from dynamo_continuous_backup.operations.cancel import cancel, decide
from dynamo_continuous_backup.operations.jobs import (
    FUNCTION_CHECKPOINT,
    ObservedRun,
    athena_job,
    export_job,
    import_job,
    is_ours_import,
    is_ours_query,
    run_job,
)
from dynamo_continuous_backup.operations.observe import JobObserver

from ..fakes import FakeS3, FakeTime, clients_with

NOW = 1_800_000_000.0
RUN = "20270115T080000Z-0123abcd"


def run(**kw: Any) -> ObservedRun:
    names = kw.pop("modified", {"run.json": NOW - 60, "checkpoints/segment-00000.json": NOW - 30})
    info = kw.pop("run_info", {"runId": RUN, "segments": 2, "startTime": NOW - 60})
    return ObservedRun("orders", RUN, names, info, **kw)


def test_a_run_with_its_manifest_succeeded() -> None:
    job = run_job(
        run(manifest={"segments": 2, "items": 10, "startTime": NOW - 60}, modified={"manifest.json": NOW}), NOW
    )
    assert job is not None and job.state == "succeeded" and job.id == f"orders/{RUN}"
    assert (job.progress.done, job.progress.total, job.progress.items, job.ended) == (2, 2, 10, NOW)
    assert job.progress.text() == "2/2 segments, 10 items" and not job.cancellable and job.resume == ""


def test_a_run_writing_lately_is_running_and_cancellable() -> None:
    job = run_job(run(segments=({"done": True, "items": 4}, {"items": 1})), NOW)
    assert job is not None and job.state == "running" and job.cancellable and job.ended is None
    assert job.progress.text() == "1/2 segments, 5 items"


def test_a_run_silent_past_the_stale_window_is_interrupted_with_its_resume() -> None:
    job = run_job(run(segments=({"done": True},)), NOW + 3600)
    assert job is not None and job.state == "interrupted" and "no progress for 60 min" in job.detail
    assert job.resume == f"dynamo-backup backfill orders --config <your config> --resume {RUN}"


def test_a_silent_run_with_a_failed_segment_failed() -> None:
    job = run_job(run(segments=({"done": True}, {"failed": "AccessDenied from Scan"})), NOW + 3600)
    assert job is not None and job.state == "failed" and job.progress.failed == 1 and job.detail.startswith("Access")


def test_a_cancel_marker_is_requested_until_the_run_says_it_stopped() -> None:
    asked = run_job(run(cancel={"requestedAt": NOW}), NOW)
    stopped = run_job(run(cancel={"requestedAt": NOW, "stoppedAt": NOW + 2}), NOW + 3)
    assert asked is not None and asked.state == "running" and asked.detail == "cancel requested"
    assert stopped is not None and stopped.state == "cancelled" and stopped.ended == NOW + 2 and stopped.resume


def test_an_export_folder_is_left_to_the_export_job_and_checkpoints_are_named_by_their_run() -> None:
    export = ObservedRun("orders", RUN, {"export/AWSDynamoDB/x/_started": NOW})
    assert run_job(export, NOW) is None
    fn = ObservedRun("orders", "20270115T080000Z-checkpoint-fn-aa", {"part-00000.ndjson.gz": NOW})
    job = run_job(fn, NOW)
    assert job is not None and job.kind == "checkpoint" and not job.cancellable and job.why_not == FUNCTION_CHECKPOINT
    with pytest.raises(UserInputError, match="ensure function's checkpoint cannot be cancelled"):
        decide(job)


def test_aws_jobs_are_named_by_their_arn_tail_and_cannot_be_cancelled() -> None:
    arn = "arn:aws:dynamodb:us-east-1:1:table/orders/export/0170-abc"
    export = export_job(
        {"ExportArn": arn, "ExportStatus": "IN_PROGRESS", "S3Prefix": "p/@snapshots/orders/RUN1/export"},
        "p/@snapshots/",
    )
    assert (export.id, export.table, export.state, export.detail) == (
        "orders/export/0170-abc",
        "orders",
        "running",
        "base RUN1",
    )
    imported = import_job(
        {"ImportArn": "arn:aws:dynamodb:us-east-1:1:table/t-r/import/9", "ImportStatus": "CANCELLING"}
    )
    assert (imported.id, imported.state) == ("t-r/import/9", "running")
    for job in (export, imported):
        with pytest.raises(UserInputError, match="AWS cannot cancel"):
            decide(job)


def test_ended_jobs_need_nothing_and_running_queries_are_stopped() -> None:
    done = run_job(run(manifest={"segments": 2}, modified={"manifest.json": NOW}), NOW)
    assert done is not None and decide(done).action == "nothing"
    query = {"QueryExecutionId": "q", "Status": {"State": "RUNNING"}, "Query": "SELECT 1"}
    assert decide(athena_job(query)).action == "stop_query"
    assert decide(athena_job({**query, "Status": {"State": "SUCCEEDED"}})).action == "nothing"
    running = run_job(run(), NOW)
    assert running is not None and decide(running).action == "mark"


def test_an_export_or_import_id_is_refused_without_any_call() -> None:
    observer = JobObserver(clients_with(), Config(firehose_delivery_bucket="b"))  # any AWS call fails the test
    for job_id in ("orders/export/0170-abc", "t/import/9"):
        with pytest.raises(UserInputError, match="AWS cannot cancel"):
            cancel(observer, job_id)


def test_the_cancel_check_reads_s3_at_most_once_per_interval() -> None:
    class Counting(FakeS3):
        reads = 0

        def get_object(self, Bucket: str, Key: str, **kw: Any) -> dict[str, Any]:  # noqa: N803
            self.reads += 1
            return super().get_object(Bucket, Key)

    s3, clock = Counting(), FakeTime()
    watch = CancelWatch(wrap(s3), "b", "k", every=5.0, clock=clock.clock)
    for _ in range(1000):  # pages read within the first interval
        assert not watch.requested()
    assert s3.reads == 1
    s3.objects["k"] = b"{}"
    assert not watch.requested()  # not read again yet
    clock.sleep(5.0)
    assert watch.requested() and watch.requested() and s3.reads == 2


def test_only_imports_from_our_prefix_and_queries_of_ours_count() -> None:
    ours = {"S3BucketSource": {"S3Bucket": "b", "S3KeyPrefix": "p/@imports/t/r/"}}
    assert is_ours_import(ours, "b", "p/@imports/")
    assert not is_ours_import({"S3BucketSource": {"S3Bucket": "b", "S3KeyPrefix": "other/"}}, "b", "p/@imports/")
    assert not is_ours_import({"S3BucketSource": {"S3Bucket": "x", "S3KeyPrefix": "p/@imports/t/"}}, "b", "p/@imports/")
    output = {"ResultConfiguration": {"OutputLocation": "s3://b/p/@athena/q.csv"}}
    assert is_ours_query(output, "s3://b/p/", "db")
    assert is_ours_query({"QueryExecutionContext": {"Database": "db"}}, "s3://b/p/", "db")
    assert not is_ours_query({"ResultConfiguration": {"OutputLocation": "s3://b/px/q.csv"}}, "s3://b/p/", "db")


def test_the_import_listing_is_bounded_and_pages() -> None:
    class Imports:
        def __init__(self) -> None:
            self.pages = 0

        def list_imports(self, PageSize: int, NextToken: str = "") -> dict[str, Any]:  # noqa: N803
            self.pages += 1
            n = int(NextToken or 0)
            summary = [
                {
                    "ImportArn": f"arn:aws:dynamodb:r:1:table/t{i}/import/{i}",
                    "ImportStatus": "COMPLETED",
                    "S3BucketSource": {"S3Bucket": "b", "S3KeyPrefix": f"p/@imports/t{i}/"},
                }
                for i in range(n, n + PageSize)
            ]
            return {"ImportSummaryList": summary, "NextToken": str(n + PageSize)}

        def describe_import(self, ImportArn: str) -> dict[str, Any]:  # noqa: N803
            return {"ImportTableDescription": {"ImportArn": ImportArn, "ImportedItemCount": 3}}

    fake = Imports()
    observer = JobObserver(
        clients_with(dynamodb=fake), Config(firehose_delivery_bucket="b", firehose_delivery_prefix="p"), limit=30
    )
    jobs = observer.imports(None, 0)
    assert len(jobs) == 30 and fake.pages == 2 and jobs[0].progress.items == 3


def test_the_job_table_shows_one_line_a_job(monkeypatch: pytest.MonkeyPatch) -> None:
    from dynamo_continuous_backup.cli import jobs as cli_jobs
    from dynamo_continuous_backup.cli.main import UI, main

    done = run_job(run(manifest={"segments": 2, "items": 7}, modified={"manifest.json": NOW}), NOW)
    monkeypatch.setattr(cli_jobs.JobObserver, "jobs", lambda self, table, since: [done])
    monkeypatch.setattr(cli_jobs, "load", lambda args: (Config(firehose_delivery_bucket="b"), clients_with()))
    out = io.StringIO()
    assert main(["jobs", "--config", "c"], UI(out, out)) == 0
    header, line = out.getvalue().splitlines()
    assert header.split() == ["ID", "KIND", "TABLE", "STATE", "PROGRESS", "STARTED", "ENDED", "NOTE"]
    assert line.split()[:4] == [f"orders/{RUN}", "backfill", "orders", "succeeded"]
