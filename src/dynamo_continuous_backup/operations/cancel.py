"""`jobs cancel ID`: decide (purely) what cancelling a job means, then do it.

A running backfill or CLI checkpoint gets the cancel marker its run checks (core/cancel.py): it
stops at a consistent point and stays resumable. An Athena query is stopped with
StopQueryExecution. AWS cannot cancel an export or an import: refused from the id alone (exit
2). A job that has ended: nothing to do (exit 0), so cancelling twice is fine. An unknown id:
NotFoundError (exit 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..core.cancel import CHECK_SECONDS, cancel_key, request_cancel
from ..core.errors import AwsError, NotFoundError, UserInputError
from .jobs import ATHENA, AWS_CANNOT, FUNCTION_CHECKPOINT, Job, athena_job
from .observe import JobObserver

RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[\w-]+$")
QUERY_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


@dataclass(frozen=True)
class Decision:
    action: Literal["mark", "stop_query", "nothing"]
    message: str


def decide(job: Job) -> Decision:
    """What `jobs cancel` does with `job` (UserInputError when it cannot be done)."""
    if job.kind in AWS_CANNOT:
        raise UserInputError(f"{job.id}: {AWS_CANNOT[job.kind]}")
    if job.state == "running" and job.why_not == FUNCTION_CHECKPOINT:
        raise UserInputError(f"{job.id}: {FUNCTION_CHECKPOINT}")
    ended = Decision("nothing", f"{job.id} has already ended ({job.state}): nothing to cancel")
    if job.kind == "athena":
        return Decision("stop_query", f"{job.id}: query stopped") if job.state == "running" else ended
    if job.state in ("succeeded", "cancelled"):
        return ended
    # Running, or seemingly stopped (failed, interrupted): a run that still goes on stops too; a
    # dead one keeps the marker until it is resumed, which removes it.
    return Decision(
        "mark",
        f"{job.id}: cancel requested; the {job.kind} stops within about {CHECK_SECONDS:.0f} s plus one page "
        f"of work, keeping what it wrote; then `{job.resume}`",
    )


def cancel(observer: JobObserver, job_id: str) -> str:
    """Cancel the job `job_id`; the line to print."""
    kind = job_id.split("/")[1] if job_id.count("/") == 2 else ""
    if kind in AWS_CANNOT:  # no call needed: whatever it is, AWS has no way to stop it
        raise UserInputError(f"{job_id}: {AWS_CANNOT[kind]}")
    job = find(observer, job_id)
    decision = decide(job)
    if decision.action == "mark":
        table, _, run_id = job.id.partition("/")
        key = cancel_key(observer.config.prefix, table, run_id)
        request_cancel(observer.clients.s3, observer.bucket, key, observer.clock())
    elif decision.action == "stop_query":
        observer.clients.get("athena").stop_query_execution(QueryExecutionId=job.id.partition("/")[2])
    return decision.message


def find(observer: JobObserver, job_id: str) -> Job:
    """The run or Athena query `job_id` names, or NotFoundError."""
    missing = NotFoundError(f"no job {job_id}: `dynamo-backup jobs` lists the job ids")
    head, _, rest = job_id.partition("/")
    if head == ATHENA:
        if not QUERY_ID.match(rest):
            raise missing
        try:
            execution = observer.execution(rest)
        except AwsError as exc:  # Athena answers an unknown id with InvalidRequestException
            if exc.code == "InvalidRequestException" or isinstance(exc, NotFoundError):
                raise missing from None
            raise
        if not observer.ours(execution):
            raise NotFoundError(f"query {rest} is not one of this product's (docs/operations.md, Jobs): not cancelled")
        return athena_job(execution)
    job = observer.run(head, rest) if head and RUN_ID.match(rest) else None
    if job is None:
        raise missing
    return job
