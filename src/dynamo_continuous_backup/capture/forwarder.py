"""Forwarder Lambda: DynamoDB stream batch -> NDJSON lines -> the table's Firehose stream.

Consecutive lines of one table travel together in one Firehose record (at most 500 lines and
1,000 KiB: capture/batching.py), so Firehose bills whole records, not 5 KB per change; S3
receives the same lines either way. A record that fails fails every change in it.
Only records that failed are retried, with exponential backoff and full jitter while the
invocation has time. An error that waiting cannot fix (missing delivery stream, access
denied, invalid request) ends the retries at once instead of billing the whole timeout.
Whatever is still undelivered is reported from the first failed change on
(`batchItemFailures`), so Lambda resumes there: nothing is skipped and per-item order holds;
the re-sent successes are duplicates that restore collapses.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core import naming
from ..core.aws import wrap
from ..core.errors import AwsError, UserInputError
from ..core.records import encode_line, pointer_record
from ..core.retry import Backoff
from ..core.stream_records import StreamRecord
from .batching import MAX_LINES_PER_RECORD, MAX_RECORD_BYTES, aggregate, pack

log = logging.getLogger(__name__)

BASE_DELAY = 0.1
MAX_DELAY = 5.0
SAFETY_MARGIN = 2.0  # seconds kept back so the response is returned before Lambda times out

Part = tuple[list[int], bytes | bytearray]  # a Firehose record: the changes it carries, and its data


@dataclass
class Outcome:
    """What one invocation did; `failed_from` is the first undelivered record's index."""

    delivered: int = 0
    oversize: int = 0
    put_calls: int = 0
    retries: int = 0
    firehose_records: int = 0  # Firehose records sent (each carries up to 500 changes)
    firehose_bytes: int = 0  # their bytes: what Firehose bills, before its 5 KB rounding
    failed_from: int | None = None
    tables: dict[str, TableOutcome] = field(default_factory=dict)


@dataclass(frozen=True)
class TableOutcome:
    """One table's share of an invocation, for its metrics (capture/metrics.py)."""

    records: int
    undelivered: int
    retries: int
    oversize: int
    newest: float | None  # the newest record's ApproximateCreationDateTime: the lag's reference


@dataclass
class Forwarder:
    firehose: Any
    s3: Any
    bucket: str
    prefix: str
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[float, float], float] = random.uniform
    log_item_data: bool = False  # item keys in logs only when the config's logItemData allows it
    lines_per_record: int = MAX_LINES_PER_RECORD  # 1: one Firehose record per change (no aggregation)

    def __post_init__(self) -> None:
        self.firehose, self.s3 = wrap(self.firehose), wrap(self.s3)  # typed errors, also for given clients

    def forward(self, records: Sequence[StreamRecord], seconds_left: float) -> Outcome:
        """Deliver every record or report where delivery must resume."""
        deadline = self.clock() + seconds_left - SAFETY_MARGIN
        outcome = Outcome()
        failed: list[int] = []
        for arn, indices in _by_source(records).items():
            table, label = naming.table_from_arn(arn), naming.stream_label(arn)
            retries, oversize = outcome.retries, outcome.oversize
            undelivered = self._deliver(table, label, records, indices, deadline, outcome)
            failed += undelivered
            outcome.tables[table] = TableOutcome(
                len(indices),
                len(undelivered),
                outcome.retries - retries,
                outcome.oversize - oversize,
                StreamRecord.newest_creation_time([records[i] for i in indices]),
            )
        if failed:
            outcome.failed_from = min(failed)
        outcome.delivered = len(records) - len(failed)
        return outcome

    def _deliver(
        self,
        table: str,
        label: str,
        records: Sequence[StreamRecord],
        indices: list[int],
        deadline: float,
        outcome: Outcome,
    ) -> list[int]:
        stream = naming.delivery_stream_name(table)
        parts, stuck = self._encode(table, label, records, indices, outcome)
        pending = [i for i in indices if i not in stuck] if stuck else indices
        attempt = 0
        fatal: str | None = None
        backoff = Backoff(BASE_DELAY, MAX_DELAY, self.sleep, self.clock, self.rand)
        while pending:
            failed, fatal = self._put_all(stream, parts, outcome)
            pending = _with_later_same_key(failed, pending, records) if failed else []
            if pending:  # rare: regroup what is left from the lines already encoded
                lines = _lines_of(parts)
                runs = _runs(pending, lines, self.lines_per_record)
                parts = [(run, b"".join([lines[i] for i in run])) for run in runs]
            if not pending or fatal:
                break
            attempt += 1
            if not backoff.pause(attempt, deadline):
                break
            outcome.retries += 1
        if pending and self.log_item_data:
            log.warning("table %s: first undelivered record has keys %s", table, records[pending[0]].keys)
        if pending and fatal:
            log.error(
                "table %s: %d of %d records undelivered: %s from delivery stream %s cannot be fixed by "
                "retrying now; Lambda will retry the batch",
                table,
                len(pending),
                len(indices),
                fatal,
                stream,
            )
        elif pending:
            log.warning(
                "table %s: %d of %d records undelivered after %d retries; Lambda will retry",
                table,
                len(pending),
                len(indices),
                attempt,
            )
        return stuck + pending

    def _encode(
        self, table: str, label: str, records: Sequence[StreamRecord], indices: list[int], outcome: Outcome
    ) -> tuple[list[Part], list[int]]:
        """Encode each change once, straight onto the end of the Firehose record it travels in
        (one growing buffer per record, so no line outlives its append); return the records
        and the changes too large for Firehose whose S3 copy could not be written."""
        parts: list[Part] = []
        stuck: list[int] = []
        run: list[int] = []
        data = bytearray()
        max_lines = self.lines_per_record
        for i in indices:
            line = encode_line(records[i].backup_record(table, label))
            size = len(line)
            if size > MAX_RECORD_BYTES:  # rare: never on the common path's way
                outcome.oversize += 1
                pointer = self._store_oversize(table, label, records[i], line)
                if pointer is None:
                    stuck.append(i)
                    continue
                line, size = pointer, len(pointer)
            # batching.record_full, inlined: this loop runs once per change
            if run and (len(run) == max_lines or len(data) + size > MAX_RECORD_BYTES):
                parts.append((run, data))
                run, data = [], bytearray()
            run.append(i)
            data += line
        if run:
            parts.append((run, data))
        return parts, stuck

    def _put_all(self, stream: str, parts: list[Part], outcome: Outcome) -> tuple[list[int], str | None]:
        """Send every Firehose record once; return the changes whose record failed and the code
        of a non-retryable error, after which nothing more is sent (it would fail the same way)."""
        members = [run for run, _ in parts]
        data = [d for _, d in parts]
        failed: list[int] = []
        fatal: str | None = None
        for batch in pack(range(len(data)), [len(d) for d in data]):
            if fatal:
                failed += [i for k in batch for i in members[k]]
                continue
            outcome.put_calls += 1
            try:
                response = self.firehose.put_record_batch(
                    DeliveryStreamName=stream, Records=[{"Data": data[k]} for k in batch]
                )
            except AwsError as exc:  # the facade's verdict: throttling, 5xx and network errors may pass
                log.warning("PutRecordBatch to %s failed for %d records: %s", stream, len(batch), exc.code or exc)
                if not exc.retryable:
                    fatal = exc.code or type(exc).__name__
                failed += [i for k in batch for i in members[k]]
                continue
            rejected: list[int] = []
            if response.get("FailedPutCount"):
                rejected = [k for k, r in zip(batch, response["RequestResponses"], strict=True) if r.get("ErrorCode")]
                failed += [i for k in rejected for i in members[k]]
            outcome.firehose_records += len(batch) - len(rejected)
            outcome.firehose_bytes += sum(len(data[k]) for k in batch) - sum(len(data[k]) for k in rejected)
        return sorted(failed), fatal

    def _store_oversize(self, table: str, label: str, record: StreamRecord, line: bytes) -> bytes | None:
        """Write a record too large for Firehose straight to S3; return its pointer line. The
        key names the change (sequence number and event ID) and the write is conditional, so an
        object there is never replaced: it is this change's copy from an earlier attempt."""
        key = naming.oversize_key(self.prefix, table, record.sequence_number, record.event_id)
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=line, ContentType="application/x-ndjson", IfNoneMatch="*"
            )
        except AwsError as exc:
            if exc.code != "PreconditionFailed":
                log.warning("oversize record of %s not stored: %s", table, exc.code or exc)
                return None
            log.info("oversize record of %s already stored at %s; kept as it is", table, key)
        return encode_line(pointer_record(record.backup_record(table, label), key))


def _lines_of(parts: list[Part]) -> dict[int, bytes]:
    """Each change's line, from the records it was packed into (JSON escapes newlines in
    strings, so each line holds exactly one: its end)."""
    return {i: line for run, data in parts for i, line in zip(run, bytes(data).splitlines(keepends=True), strict=True)}


def _runs(pending: list[int], lines: dict[int, bytes], max_lines: int) -> list[list[int]]:
    return [pending[start:end] for start, end in aggregate([len(lines[i]) for i in pending], max_lines)]


def _with_later_same_key(failed: list[int], sent: list[int], records: Sequence[StreamRecord]) -> list[int]:
    """Failed records plus every later one of the same item, so the item's newest copy in S3
    is always its newest change (the re-sent ones are duplicates that restore collapses)."""
    first_failure: dict[tuple[Any, ...], int] = {}
    for i in failed:
        first_failure.setdefault(records[i].item_key(), i)
    failed_set = set(failed)
    return [i for i in sent if i in failed_set or first_failure.get(records[i].item_key(), i) < i]


def _by_source(records: Sequence[StreamRecord]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        groups.setdefault(record.event_source_arn, []).append(i)
    return groups


def parse_event(event: Any) -> list[StreamRecord]:
    """The event's stream records, typed; UserInputError for anything else."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise UserInputError("forwarder: event is not a DynamoDB Streams batch (no 'Records' list)")
    try:
        return [StreamRecord.checked(record) for record in records]
    except ValueError:
        raise UserInputError(
            "forwarder: a record lacks eventSourceARN/eventName/eventID/dynamodb.SequenceNumber"
        ) from None
