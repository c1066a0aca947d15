"""Event source mapping emulation for DynamoDB streams: poll, batch, invoke, checkpoint.

Like Lambda: batches of up to BatchSize records from the mapping's starting position, gathered
for up to MaximumBatchingWindowInSeconds unless the batch fills first (`should_invoke`); a
`batchItemFailures` answer resumes at the reported record; an exception retries the batch
(halved when BisectBatchOnFunctionError) up to MaximumRetryAttempts (-1: forever)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import AwsNotFoundError
from ..core.records import json_form
from ..core.stream_records import StreamRecord

log = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], Any]


@dataclass
class Cursor:
    """Where one mapping is in one shard."""

    after: str | None = None  # last sequence number handled; None: the starting position
    limit: int = 0  # current batch size (shrinks on bisect)
    failures: int = 0
    gathering_since: float | None = None  # when records were first seen and held for the window
    window: float = 0.0  # the mapping's batching window, as last read


def should_invoke(held: int, limit: int, since: float | None, now: float, window: float, retrying: bool) -> bool:
    """Lambda's batching window: invoke once the batch is full, the window since the first held
    record has passed, or at once for a retry (a failed batch is not gathered again)."""
    if held <= 0:
        return False
    if retrying or window <= 0 or held >= limit:
        return True
    return since is not None and now - since >= window


@dataclass
class MappingPoller:
    streams: Any
    invoke: Invoke
    cursors: dict[tuple[str, str], Cursor] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    @property
    def holding(self) -> bool:
        """Records are being gathered for a batching window (not delivered yet)."""
        return any(c.gathering_since is not None for c in self.cursors.values())

    def due_in(self) -> float | None:
        """Seconds until the first held batch's window ends (0: due); None when nothing is held.
        A poll loop that backs off when idle should wake by then."""
        now = self.clock()
        ends = [c.gathering_since + c.window - now for c in self.cursors.values() if c.gathering_since is not None]
        return max(0.0, min(ends)) if ends else None

    def poll(self, mapping: dict[str, Any]) -> int:
        """One round for one mapping; returns the number of records delivered."""
        arn = mapping["EventSourceArn"]
        try:
            shards = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        except AwsNotFoundError:
            return 0  # stream gone for good
        delivered = 0
        for shard in shards:
            cursor = self.cursors.setdefault((mapping["UUID"], shard["ShardId"]), Cursor(limit=mapping["BatchSize"]))
            delivered += self._poll_shard(mapping, arn, shard["ShardId"], cursor)
        return delivered

    def _poll_shard(self, mapping: dict[str, Any], arn: str, shard: str, cursor: Cursor) -> int:
        if cursor.after is None:
            it = self.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType=mapping.get("StartingPosition", "TRIM_HORIZON")
            )
        else:
            it = self.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=cursor.after
            )
        records = self.streams.get_records(ShardIterator=it["ShardIterator"], Limit=cursor.limit)["Records"]
        if not records:
            cursor.gathering_since = None
            return 0
        now, cursor.window = self.clock(), float(mapping.get("MaximumBatchingWindowInSeconds") or 0)
        if not should_invoke(
            len(records), cursor.limit, cursor.gathering_since, now, cursor.window, cursor.failures > 0
        ):
            if cursor.gathering_since is None:
                cursor.gathering_since = now  # the window starts with the first record held
            return 0
        cursor.gathering_since = None
        event = {"Records": [lambda_record(r, arn) for r in records]}
        try:
            response = self.invoke(mapping["FunctionArn"], event) or {}
        except Exception as exc:  # as Lambda: whatever made the invocation fail, the batch is retried
            return self._failed(mapping, cursor, records, exc)
        failures = response.get("batchItemFailures") or []
        if not failures:
            cursor.after, cursor.failures, cursor.limit = (
                StreamRecord(records[-1]).sequence_number,
                0,
                mapping["BatchSize"],
            )
            return len(records)
        seq = failures[0]["itemIdentifier"]
        done = [r for r in records if _seq_lt(StreamRecord(r).sequence_number, seq)]
        if done:
            cursor.after = StreamRecord(done[-1]).sequence_number
        return len(done) + self._failed(mapping, cursor, records[len(done) :], None)

    def _failed(
        self, mapping: dict[str, Any], cursor: Cursor, records: list[dict[str, Any]], exc: Exception | None
    ) -> int:
        cursor.failures += 1
        if exc is not None:
            log.warning("function %s failed on a batch of %d: %s", mapping["FunctionArn"], len(records), exc)
            if mapping.get("BisectBatchOnFunctionError") and cursor.limit > 1:
                cursor.limit = max(1, min(cursor.limit, len(records)) // 2)
        limit = mapping.get("MaximumRetryAttempts", -1)
        if limit is not None and limit >= 0 and cursor.failures > limit:
            log.error(
                "mapping %s: %d records discarded after %d retries (as Lambda does with no destination)",
                mapping["UUID"],
                len(records),
                limit,
            )
            cursor.after, cursor.failures = StreamRecord(records[-1]).sequence_number, 0
        return 0


def _seq_lt(a: str, b: str) -> bool:
    return (len(a), a) < (len(b), b)


def lambda_record(record: dict[str, Any], arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it: epoch-number times, base64 binary values."""
    view = StreamRecord(record)
    fields: dict[str, Any] = {"Keys": json_form(view.keys)}
    when = view.approximate_creation_time
    if when is not None:
        fields["ApproximateCreationDateTime"] = int(when)
    for name, image in (("NewImage", view.new_image), ("OldImage", view.old_image)):
        if image is not None:
            fields[name] = json_form(image)
    return {**view.with_change(**fields), "eventSourceARN": arn}
