"""Cancelling a run: `dynamo-backup jobs cancel` writes a marker object into the run's folder
(PREFIX/@snapshots/TABLE/RUN_ID/cancel.json); a backfill or checkpoint run looks for it now and
then (`CancelWatch`), stops at a consistent point and raises CancelledError. Resuming the run
removes the marker first."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from . import naming
from .aws import read_object

CANCEL = "cancel.json"
# How often a run reads its marker: one GET per this many seconds per run (the scan loop itself
# only compares a clock), so a cancel takes effect within about this long plus one page.
CHECK_SECONDS = 5.0


def cancel_key(prefix: str, table: str, run_id: str) -> str:
    return f"{naming.snapshots_prefix(prefix, table)}{run_id}/{CANCEL}"


def request_cancel(s3: Any, bucket: str, key: str, now: float) -> None:
    """Write the marker (idempotent: a second request rewrites it)."""
    body = json.dumps({"requestedAt": now}).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def clear_cancel(s3: Any, bucket: str, key: str) -> None:
    """Remove the marker: the run was asked to go on (S3 deletes a missing key without error)."""
    s3.delete_object(Bucket=bucket, Key=key)


class CancelWatch:
    """Whether the run's marker exists, read at most every `every` seconds; shared by the
    threads of one run (once seen, every thread sees it at its next check)."""

    def __init__(
        self, s3: Any, bucket: str, key: str, every: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.s3, self.bucket, self.key, self.clock = s3, bucket, key, clock
        self.every = CHECK_SECONDS if every is None else every
        self._next = 0.0  # the first check reads at once
        self._seen = False
        self._lock = threading.Lock()

    def requested(self) -> bool:
        if self._seen or self.clock() < self._next:
            return self._seen
        with self._lock:
            now = self.clock()
            if now < self._next:  # another thread read it meanwhile
                return self._seen
            self._next = now + self.every
        self._seen = read_object(self.s3, self.bucket, self.key) is not None
        return self._seen


def acknowledge_cancel(s3: Any, bucket: str, key: str, now: float) -> None:
    """Note on the marker that the run has stopped (so `jobs` shows it cancelled at once)."""
    body = read_object(s3, bucket, key)
    doc = json.loads(body) if body else {}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({**doc, "stoppedAt": now}).encode())
