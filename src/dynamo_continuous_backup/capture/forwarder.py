"""Forwarder Lambda: DynamoDB stream batch -> NDJSON lines -> the table's Firehose stream.

Only records that failed are retried, with exponential backoff and full jitter while the
invocation has time. An error that waiting cannot fix (missing delivery stream, access
denied, invalid request) ends the retries at once instead of billing the whole timeout.
Whatever is still undelivered is reported from the first failed record on
(`batchItemFailures`), so Lambda resumes there: nothing is skipped and per-item order holds;
the re-sent successes are duplicates that restore collapses.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core import naming
from ..core.aws import wrap
from ..core.errors import AwsError, UserInputError
from ..core.records import backup_record, encode_line, pointer_record
from ..core.retry import Backoff
from .batching import MAX_RECORD_BYTES, pack

log = logging.getLogger(__name__)

BASE_DELAY = 0.1
MAX_DELAY = 5.0
SAFETY_MARGIN = 2.0  # seconds kept back so the response is returned before Lambda times out


@dataclass
class Outcome:
    """What one invocation did; `failed_from` is the first undelivered record's index."""

    delivered: int = 0
    oversize: int = 0
    put_calls: int = 0
    retries: int = 0
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

    def __post_init__(self) -> None:
        self.firehose, self.s3 = wrap(self.firehose), wrap(self.s3)  # typed errors, also for given clients

    def forward(self, records: list[dict[str, Any]], seconds_left: float) -> Outcome:
        """Deliver every record or report where delivery must resume."""
        deadline = self.clock() + seconds_left - SAFETY_MARGIN
        outcome = Outcome()
        failed: list[int] = []
        for arn, indices in _by_source(records).items():
            table, label = naming.table_from_arn(arn), naming.stream_label(arn)
            retries, oversize = outcome.retries, outcome.oversize
            undelivered = self._deliver(table, label, records, indices, deadline, outcome)
            failed += undelivered
            times = [records[i]["dynamodb"].get("ApproximateCreationDateTime") for i in indices]
            outcome.tables[table] = TableOutcome(
                len(indices),
                len(undelivered),
                outcome.retries - retries,
                outcome.oversize - oversize,
                max((float(x) for x in times if x is not None), default=None),
            )
        if failed:
            outcome.failed_from = min(failed)
        outcome.delivered = len(records) - len(failed)
        return outcome

    def _deliver(
        self,
        table: str,
        label: str,
        records: list[dict[str, Any]],
        indices: list[int],
        deadline: float,
        outcome: Outcome,
    ) -> list[int]:
        stream = naming.delivery_stream_name(table)
        lines: dict[int, bytes] = {}
        sizes: dict[int, int] = {}
        pending: list[int] = []
        stuck: list[int] = []  # oversize records whose S3 copy could not be written
        for i in indices:
            record = backup_record(records[i], table, label)
            encoded = encode_line(record)
            line = encoded if len(encoded) <= MAX_RECORD_BYTES else self._store_oversize(table, record, encoded)
            outcome.oversize += len(encoded) > MAX_RECORD_BYTES
            if line:
                lines[i], sizes[i] = line, len(line)
                pending.append(i)
            else:
                stuck.append(i)
        attempt = 0
        fatal: str | None = None
        backoff = Backoff(BASE_DELAY, MAX_DELAY, self.sleep, self.clock, self.rand)
        while pending:
            failed, fatal = self._put_all(stream, pending, lines, sizes, outcome)
            pending = _with_later_same_key(failed, pending, records) if failed else []
            if not pending or fatal:
                break
            attempt += 1
            if not backoff.pause(attempt, deadline):
                break
            outcome.retries += 1
        if pending and self.log_item_data:
            log.warning(
                "table %s: first undelivered record has keys %s", table, records[pending[0]]["dynamodb"]["Keys"]
            )
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

    def _put_all(
        self, stream: str, pending: list[int], lines: dict[int, bytes], sizes: dict[int, int], outcome: Outcome
    ) -> tuple[list[int], str | None]:
        """Send every pending record once; return the failed ones and the code of a
        non-retryable error, after which nothing more is sent (it would fail the same way)."""
        failed: list[int] = []
        fatal: str | None = None
        for batch in pack(pending, sizes):
            if fatal:
                failed += batch
                continue
            outcome.put_calls += 1
            try:
                response = self.firehose.put_record_batch(
                    DeliveryStreamName=stream, Records=[{"Data": lines[i]} for i in batch]
                )
            except AwsError as exc:  # the facade's verdict: throttling, 5xx and network errors may pass
                log.warning("PutRecordBatch to %s failed for %d records: %s", stream, len(batch), exc.code or exc)
                if not exc.retryable:
                    fatal = exc.code or type(exc).__name__
                failed += batch
                continue
            if response.get("FailedPutCount"):
                failed += [i for i, r in zip(batch, response["RequestResponses"], strict=True) if r.get("ErrorCode")]
        return sorted(failed), fatal

    def _store_oversize(self, table: str, record: dict[str, Any], line: bytes) -> bytes | None:
        """Write a record too large for Firehose straight to S3; return its pointer line."""
        key = naming.oversize_key(self.prefix, table, record["SequenceNumber"], record["eventID"])
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=line, ContentType="application/x-ndjson")
        except AwsError as exc:
            log.warning("oversize record of %s not stored: %s", table, exc.code or exc)
            return None
        return encode_line(pointer_record(record, key))


def _item_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((name, *value.items()) for name, value in record["dynamodb"]["Keys"].items()))


def _with_later_same_key(failed: list[int], sent: list[int], records: list[dict[str, Any]]) -> list[int]:
    """Failed records plus every later one of the same item, so the item's newest copy in S3
    is always its newest change (the re-sent ones are duplicates that restore collapses)."""
    first_failure: dict[tuple[Any, ...], int] = {}
    for i in failed:
        first_failure.setdefault(_item_key(records[i]), i)
    failed_set = set(failed)
    return [i for i in sent if i in failed_set or first_failure.get(_item_key(records[i]), i) < i]


def _by_source(records: list[dict[str, Any]]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        groups.setdefault(record["eventSourceARN"], []).append(i)
    return groups


def parse_event(event: Any) -> list[dict[str, Any]]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise UserInputError("forwarder: event is not a DynamoDB Streams batch (no 'Records' list)")
    for record in records:
        if (
            not isinstance(record, dict)
            or not {"eventSourceARN", "eventName", "eventID", "dynamodb"} <= record.keys()
            or "SequenceNumber" not in record["dynamodb"]
        ):
            raise UserInputError("forwarder: a record lacks eventSourceARN/eventName/eventID/dynamodb.SequenceNumber")
    return records
