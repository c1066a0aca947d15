"""Backfill: snapshot a protected table into S3 with a segmented parallel scan.

Each segment checkpoints after every part it writes, so an interrupted run resumes where it
stopped (`--resume RUN_ID`) and never rescans a finished segment. The manifest is written
last: a run without one is incomplete and restore ignores it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..core import naming
from ..core.aws import Clients, read_object, table_must_exist, wrap
from ..core.cancel import CancelWatch, acknowledge_cancel, cancel_key, clear_cancel
from ..core.config import Config
from ..core.errors import AwsError, BackupError, CancelledError, UserInputError
from ..core.records import dumps, json_form, wire_form
from ..core.retry import Backoff
from ..core.timeline_store import record_base

log = logging.getLogger(__name__)

PART_BYTES = 16 * 1024 * 1024
# A throttled scan page (after botocore's own retries) waits up to 0.2 * 2**n s, at most 20 s:
# a long backfill rides out a busy table instead of failing (it can be resumed anyway).
SCAN_BACKOFF_BASE = 0.2
SCAN_BACKOFF_CAP = 20.0
MAX_THROTTLE_RETRIES = 60


class HandOff(Exception):
    """The table is larger than the caller may snapshot inline."""


def new_run_id() -> str:
    """Sortable by start time, unique across concurrent runs (stdlib only: this runs in Lambda)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


@dataclass
class RateLimiter:
    """Paces read capacity across segments: at most `per_second` units per second."""

    per_second: float | None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _next: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spend(self, units: float) -> None:
        if not self.per_second:
            return
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + units / self.per_second
            wait = start - now
        if wait > 0:
            self.sleep(wait)


@dataclass
class BackfillResult:
    run_id: str
    items: int
    files: int
    seconds: float
    resumed_segments: int = 0
    kind: str = "scan"


class Backfill:
    def __init__(
        self,
        clients: Clients,
        config: Config,
        table: str,
        segments: int = 8,
        max_rcu: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[int], None] | None = None,
        max_items: int | None = None,
        dynamodb: Any = None,
        part_bytes: int = PART_BYTES,
        page_limit: int | None = None,
    ) -> None:
        if not 1 <= segments <= 1000:
            raise UserInputError("--segments must be between 1 and 1000")
        self.clients, self.config, self.table, self.segments = clients, config, table, segments
        self.dynamodb = wrap(dynamodb or clients.dynamodb, clients.region)  # typed errors, also for given clients
        self.limiter = RateLimiter(max_rcu, sleep)
        self.backoff = Backoff(SCAN_BACKOFF_BASE, SCAN_BACKOFF_CAP, sleep)
        self.progress, self.max_items = progress or (lambda n: None), max_items
        self.bucket = config.firehose_delivery_bucket
        self.part_bytes, self.page_limit = part_bytes, page_limit
        self._keys: list[str] | None = None
        self._count = 0
        self._count_lock = threading.Lock()
        self.cancel: CancelWatch  # set by run(), which is what its segments check
        self.run_id = ""

    @property
    def resume_hint(self) -> str:
        return f"resume with `dynamo-backup backfill {self.table} --config <your config> --resume {self.run_id}`"

    def run_prefix(self, run_id: str) -> str:
        return f"{naming.snapshots_prefix(self.config.prefix, self.table)}{run_id}/"

    def run(self, resume: str | None = None) -> BackfillResult:
        started = time.monotonic()
        run_id = resume or new_run_id()
        prefix = self.run_prefix(run_id)
        run_info = self._get_json(prefix + "run.json")
        if resume and run_info is None:
            raise UserInputError(f"no backfill run {resume} for table {self.table}; omit --resume to start a new one")
        if run_info is None:
            # The stream capturing changes during the scan: the base belongs to its generation.
            stream_arn = self._describe().get("LatestStreamArn")
            run_info = {
                "runId": run_id,
                "table": self.table,
                "segments": self.segments,
                "startTime": time.time(),
                "streamArn": stream_arn,
            }
            self._put_json(prefix + "run.json", run_info)
        if self._get_json(prefix + "manifest.json") is not None:
            raise UserInputError(f"backfill run {run_id} is already complete")
        marker = cancel_key(self.config.prefix, self.table, run_id)
        if resume:  # resuming is asking it to go on: an earlier `jobs cancel` no longer applies
            clear_cancel(self.clients.s3, self.bucket, marker)
        self.cancel, self.run_id = CancelWatch(self.clients.s3, self.bucket, marker), run_id
        segments = int(run_info["segments"])
        checkpoints = [self._get_json(f"{prefix}checkpoints/segment-{s:05d}.json") or {} for s in range(segments)]
        resumed = sum(1 for c in checkpoints if c.get("done"))
        try:
            with ThreadPoolExecutor(max_workers=min(segments, 64)) as pool:
                done = list(pool.map(lambda s: self._guarded(prefix, s, segments, checkpoints[s]), range(segments)))
        except CancelledError:
            acknowledge_cancel(self.clients.s3, self.bucket, marker, time.time())
            raise
        files = [f for cp in done for f in cp["files"]]
        items = sum(cp["items"] for cp in done)
        manifest = {
            "runId": run_id,
            "table": self.table,
            "kind": "scan",
            "streamArn": run_info.get("streamArn"),
            "segments": segments,
            "startTime": run_info["startTime"],
            "endTime": time.time(),
            "items": items,
            "segmentItems": [cp["items"] for cp in done],
            "files": files,
            "checksum": hashlib.sha256("".join(f["sha256"] for f in files).encode()).hexdigest(),
        }
        self._put_json(prefix + "manifest.json", manifest)  # marks the run complete
        record_base(self.clients, self.config, self.table, manifest)  # then its fact: restores list it
        return BackfillResult(run_id, items, len(files), time.monotonic() - started, resumed)

    def _guarded(self, prefix: str, segment: int, total: int, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """`_segment`, noting a failure in the segment's checkpoint (for `jobs`); its progress stays."""
        try:
            return self._segment(prefix, segment, total, checkpoint)
        except CancelledError:
            raise
        except BackupError as exc:
            key = f"{prefix}checkpoints/segment-{segment:05d}.json"
            self._put_json(key, {**(self._get_json(key) or {"segment": segment, "files": []}), "failed": str(exc)})
            raise

    def _segment(self, prefix: str, segment: int, total: int, checkpoint: dict[str, Any]) -> dict[str, Any]:
        if checkpoint.get("done"):
            return checkpoint
        state = {
            "segment": segment,
            "done": False,
            "files": checkpoint.get("files", []),
            "items": checkpoint.get("items", 0),
            "lastKey": checkpoint.get("lastKey"),
        }
        self._add(state["items"])
        lines: list[bytes] = []
        size = pending = 0
        # Checkpoints hold the key in JSON form (binary as base64); the scan takes it as bytes.
        start_key = wire_form(state["lastKey"]) if state["lastKey"] else None
        while True:
            if self.cancel.requested():  # a clock comparison per page; an S3 read every few seconds
                if lines:  # keep what was scanned: the checkpoint then points past it
                    self._flush(prefix, state, lines, pending, start_key)
                raise CancelledError(
                    f"backfill {self.run_id} of {self.table} cancelled; {self.resume_hint}",
                    self.run_id,
                )
            page = self._scan(segment, total, start_key)
            now = time.time()
            for item in page.get("Items", []):
                line = dumps(self._record(item, now)) + b"\n"
                lines.append(line)
                size += len(line)
            pending += len(page.get("Items", []))
            self._add(len(page.get("Items", [])))
            start_key = page.get("LastEvaluatedKey")
            if size >= self.part_bytes or (start_key is None and lines):
                self._flush(prefix, state, lines, pending, start_key)
                lines, size, pending = [], 0, 0
            if start_key is None:
                break
        state["done"] = True
        self._put_json(f"{prefix}checkpoints/segment-{segment:05d}.json", state)
        return state

    def _record(self, item: dict[str, Any], now: float) -> dict[str, Any]:
        keys = {k: item[k] for k in self._key_names(item)}
        return {
            "Keys": keys,
            "NewImage": item,
            "eventName": "SNAPSHOT",
            "snapshot": True,
            "ApproximateCreationDateTime": now,
            "tableName": self.table,
        }

    def _key_names(self, item: dict[str, Any]) -> list[str]:
        if self._keys is None:
            self._keys = [k["AttributeName"] for k in self._describe()["KeySchema"]]
        return self._keys

    def _describe(self) -> dict[str, Any]:
        with table_must_exist(self.table):
            return self.dynamodb.describe_table(TableName=self.table)["Table"]  # type: ignore[no-any-return]

    def _flush(self, prefix: str, state: dict[str, Any], lines: list[bytes], count: int, last_key: Any) -> None:
        body = gzip.compress(b"".join(lines), compresslevel=3)
        key = f"{prefix}segment-{state['segment']:05d}-part-{len(state['files']):05d}.ndjson.gz"
        etag = self.clients.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"]
        state["files"].append(
            {"key": key, "size": len(body), "etag": etag, "items": count, "sha256": hashlib.sha256(body).hexdigest()}
        )
        state["items"] += count
        state["lastKey"] = json_form(last_key)
        self._put_json(f"{prefix}checkpoints/segment-{state['segment']:05d}.json", state)

    def _scan(self, segment: int, total: int, start_key: Any) -> dict[str, Any]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "Segment": segment,
            "TotalSegments": total,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if start_key:
            args["ExclusiveStartKey"] = start_key
        if self.page_limit:
            args["Limit"] = self.page_limit
        for attempt in range(MAX_THROTTLE_RETRIES):
            try:
                with table_must_exist(self.table):
                    page: dict[str, Any] = self.dynamodb.scan(**args)
                break
            except AwsError as exc:
                if not exc.retryable:  # throttled, 5xx or network: waiting may help; nothing else
                    raise
                log.info("segment %d throttled (%s); retrying", segment, exc.code or exc)
                self.backoff.pause(attempt)
        else:
            raise AwsError(
                f"segment {segment} of {self.table} still throttled after {MAX_THROTTLE_RETRIES} retries; "
                f"resume later with --resume"
            )
        self.limiter.spend(float((page.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0.5))
        return page

    def _add(self, n: int) -> None:
        with self._count_lock:
            self._count += n
            if self.max_items is not None and self._count > self.max_items:
                raise HandOff(f"{self.table} has more than {self.max_items} items")
        if n:
            self.progress(n)

    def _get_json(self, key: str) -> Any:
        body = read_object(self.clients.s3, self.bucket, key)
        return None if body is None else json.loads(body)

    def _put_json(self, key: str, data: Any) -> None:
        self.clients.s3.put_object(
            Bucket=self.bucket, Key=key, Body=json.dumps(data).encode(), ContentType="application/json"
        )
