"""The jobs model: what `dynamo-backup jobs` lists, derived (purely) from what the observer saw.

Job ids are stable, unique across tables, and name the thing itself:
  TABLE/RUN_ID            a backfill or checkpoint run: its folder PREFIX/@snapshots/TABLE/RUN_ID/
  TABLE/export/EXPORT_ID  an ExportTableToPointInTime: the ARN is `arn:...:table/` + the id
  TABLE/import/IMPORT_ID  an ImportTable (TABLE is the table it creates): likewise
  @athena/QUERY_ID        an Athena query execution ('@' never occurs in a table name)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["backfill", "export", "checkpoint", "import", "athena"]
State = Literal["running", "succeeded", "failed", "cancelled", "interrupted"]

# A backfill writes its segment checkpoints after each 16 MB part: a run with no manifest and no
# object written for this long is taken as stopped (a paced, slow scan may need `--stale` longer).
STALE_SECONDS = 900.0
ATHENA = "@athena"
AWS_CANNOT = {
    "export": "AWS cannot cancel an ExportTableToPointInTime job; it ends by itself (the base is "
    "written when it completes)",
    "import": "AWS cannot cancel an ImportTable job; it ends by itself (delete the table it creates "
    "afterwards if it is not wanted)",
}
FUNCTION_CHECKPOINT = "the ensure function's checkpoint cannot be cancelled; it ends within its 300 s budget"


@dataclass(frozen=True)
class Progress:
    """Segments done/failed of total (backfills), and items or bytes where known."""

    done: int | None = None
    failed: int = 0
    total: int | None = None
    items: int | None = None
    bytes: int | None = None

    def text(self) -> str:
        parts = []
        if self.total is not None:
            failed = f", {self.failed} failed" if self.failed else ""
            parts.append(f"{self.done or 0}/{self.total} segments{failed}")
        if self.items is not None:
            parts.append(f"{self.items:,} items")
        if self.bytes is not None:
            parts.append(f"{self.bytes:,} bytes")
        return ", ".join(parts) or "-"


@dataclass(frozen=True)
class Job:
    id: str
    kind: Kind
    table: str
    state: State
    progress: Progress = field(default_factory=Progress)
    started: float | None = None
    ended: float | None = None
    detail: str = ""
    cancellable: bool = False
    why_not: str = ""  # why `jobs cancel` cannot stop it, when it cannot
    resume: str = ""  # the command that continues (or redoes) a run that has not succeeded

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["started"], out["ended"] = iso(self.started), iso(self.ended)
        return out


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")[:-6] + "Z"


# -- runs under PREFIX/@snapshots/TABLE/RUN_ID/ ------------------------------------------------


@dataclass(frozen=True)
class ObservedRun:
    """One run folder as seen: each object's name within it and its LastModified, and the small
    JSON documents read (run.json, manifest.json, cancel.json, the segment checkpoints)."""

    table: str
    run_id: str
    modified: dict[str, float]
    run_info: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    cancel: dict[str, Any] | None = None
    segments: tuple[dict[str, Any], ...] = ()


def run_kind(run: ObservedRun) -> Kind | None:
    """backfill or checkpoint; None for a PITR export's folder (the export job stands for it)."""
    kind = (run.manifest or run.run_info or {}).get("kind")
    if kind == "export" or (run.run_info is None and any(k.startswith("export/") for k in run.modified)):
        return None
    if kind == "checkpoint" or "-checkpoint" in run.run_id:
        return "checkpoint"
    return "backfill"


def needs_segments(run: ObservedRun) -> bool:
    """Whether the observer must read the segment checkpoints (only a backfill without manifest)."""
    return "manifest.json" not in run.modified and run_kind(run) == "backfill"


def run_job(run: ObservedRun, now: float, stale: float = STALE_SECONDS) -> Job | None:
    kind = run_kind(run)
    if kind is None or not run.modified:
        return None
    job_id = f"{run.table}/{run.run_id}"
    last = max(run.modified.values())
    started = _run_started(run, kind)
    progress = _run_progress(run)
    if run.manifest is not None:
        ended = run.modified.get("manifest.json", last)
        return Job(job_id, kind, run.table, "succeeded", progress, started, ended)
    redo = _redo(run, kind)
    function = "-checkpoint-fn-" in run.run_id  # the ensure function's: short, with no cancel check
    if run.cancel is not None:
        stopped = run.cancel.get("stoppedAt")
        if stopped is None and now - last < stale:
            return Job(job_id, kind, run.table, "running", progress, started, None, "cancel requested", True, "", redo)
        return Job(job_id, kind, run.table, "cancelled", progress, started, stopped or last, "", False, "", redo)
    if now - last < stale:
        why = FUNCTION_CHECKPOINT if function else ""
        return Job(job_id, kind, run.table, "running", progress, started, None, "", not function, why, redo)
    failures = [s["failed"] for s in run.segments if s.get("failed") and not s.get("done")]
    state: State = "failed" if failures else "interrupted"
    detail = failures[0] if failures else f"no progress for {int((now - last) // 60)} min"
    return Job(job_id, kind, run.table, state, progress, started, last, detail, False, "", redo)


def _run_started(run: ObservedRun, kind: Kind) -> float:
    if run.run_info and "startTime" in run.run_info:
        return float(run.run_info["startTime"])
    if kind == "backfill" and run.manifest and "startTime" in run.manifest:
        return float(run.manifest["startTime"])
    return min(run.modified.values())  # a checkpoint's manifest times are its T, not its run


def _run_progress(run: ObservedRun) -> Progress:
    source = run.manifest or run.run_info or {}
    total = source.get("segments")
    if run.manifest is not None:
        return Progress(total if total is None else int(total), 0, total, int(run.manifest.get("items", 0)))
    if total is None:  # a checkpoint: its parts uploaded so far
        return Progress(items=None, bytes=None)
    done = sum(1 for s in run.segments if s.get("done"))
    failed = sum(1 for s in run.segments if s.get("failed") and not s.get("done"))
    return Progress(done, failed, int(total), sum(int(s.get("items", 0)) for s in run.segments))


def _redo(run: ObservedRun, kind: Kind) -> str:
    if kind == "backfill":
        return f"dynamo-backup backfill {run.table} --config <your config> --resume {run.run_id}"
    at = iso((run.run_info or {}).get("at"))
    return f"dynamo-backup checkpoint {run.table} --config <your config>" + (f" --at {at}" if at else "")


# -- AWS's own jobs ------------------------------------------------------------------------------


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _arn_id(arn: str) -> tuple[str, str]:
    """(table, job id) from an export or import ARN (`...:table/T/export/ID`)."""
    tail = arn.partition(":table/")[2]
    return tail.split("/", 1)[0], tail


def export_job(description: dict[str, Any], snapshots_prefix: str) -> Job:
    """A job from DescribeExport; `snapshots_prefix` (PREFIX/@snapshots/) names the base it makes."""
    table, job_id = _arn_id(description["ExportArn"])
    status = description.get("ExportStatus", "IN_PROGRESS")
    state: State = {"IN_PROGRESS": "running", "COMPLETED": "succeeded"}.get(status, "failed")  # type: ignore[assignment]
    where = str(description.get("S3Prefix") or "")
    detail = f"base {where[len(snapshots_prefix) :].split('/')[1]}" if where.startswith(snapshots_prefix) else ""
    if state == "failed":
        detail = f"{description.get('FailureCode')}: {description.get('FailureMessage')}"
    items = description.get("ItemCount")
    progress = Progress(items=None if items is None else int(items), bytes=description.get("BilledSizeBytes"))
    started, ended = _epoch(description.get("StartTime")), _epoch(description.get("EndTime"))
    return Job(job_id, "export", table, state, progress, started, ended, detail, why_not=AWS_CANNOT["export"])


IMPORT_STATES: dict[str, State] = {
    "IN_PROGRESS": "running",
    "CANCELLING": "running",
    "COMPLETED": "succeeded",
    "CANCELLED": "cancelled",
    "FAILED": "failed",
}


def import_job(summary: dict[str, Any]) -> Job:
    """A job from ListImports' summary (merged with DescribeImport's answer while it runs)."""
    table, job_id = _arn_id(summary["ImportArn"])
    state = IMPORT_STATES.get(summary.get("ImportStatus", ""), "failed")
    source = summary.get("S3BucketSource") or {}
    detail = f"from s3://{source.get('S3Bucket')}/{source.get('S3KeyPrefix', '')}"
    if summary.get("FailureCode"):
        detail += f"; {summary['FailureCode']}: {summary.get('FailureMessage')}"
    items = summary.get("ImportedItemCount")
    progress = Progress(items=None if items is None else int(items), bytes=summary.get("ProcessedSizeBytes"))
    started, ended = _epoch(summary.get("StartTime")), _epoch(summary.get("EndTime"))
    return Job(job_id, "import", table, state, progress, started, ended, detail, why_not=AWS_CANNOT["import"])


def is_ours_import(summary: dict[str, Any], bucket: str, imports_prefix: str) -> bool:
    """An import this product started: its source is under PREFIX/@imports/ in our bucket."""
    source = summary.get("S3BucketSource") or {}
    return source.get("S3Bucket") == bucket and str(source.get("S3KeyPrefix", "")).startswith(imports_prefix)


ATHENA_STATES: dict[str, State] = {
    "QUEUED": "running",
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
}


def is_ours_query(execution: dict[str, Any], output_root: str, database: str) -> bool:
    """A query of this product: its results go under s3://BUCKET/PREFIX/, or it runs in the
    product's Athena database."""
    output = str((execution.get("ResultConfiguration") or {}).get("OutputLocation") or "")
    context = execution.get("QueryExecutionContext") or {}
    return output.startswith(output_root) or context.get("Database") == database


def athena_job(execution: dict[str, Any]) -> Job:
    status = execution.get("Status") or {}
    state = ATHENA_STATES.get(status.get("State", ""), "failed")
    query = " ".join(str(execution.get("Query", "")).split())
    detail = query if len(query) <= 60 else query[:57] + "..."
    if status.get("StateChangeReason") and state != "succeeded":
        detail = f"{status['StateChangeReason']}; {detail}"
    scanned = (execution.get("Statistics") or {}).get("DataScannedInBytes")
    running = state == "running"
    return Job(
        f"{ATHENA}/{execution['QueryExecutionId']}",
        "athena",
        "-",
        state,
        Progress(bytes=scanned),
        _epoch(status.get("SubmissionDateTime")),
        None if running else _epoch(status.get("CompletionDateTime")),
        detail,
        running,
        "" if running else f"it has {state}" if state != "cancelled" else "it is cancelled",
    )


def newest_first(jobs: list[Job], limit: int) -> list[Job]:
    return sorted(jobs, key=lambda j: (j.started or 0.0, j.id), reverse=True)[:limit]
