"""Proof that a stream was consumed (docs/design.md section 9): a mapping is removed only when every
record of its stream up to the removal's cut-off is in S3, or the stream's 24-hour retention has
passed. Time alone never proves it: a Firehose outage across a DeleteTable would lose records.

The proof compares record identities (`eventID`, unique per change) read from the stream with
those in the table's change objects of the hours since the oldest such record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..core.aws import Clients
from ..core.config import Config
from ..core.errors import AwsError, AwsNotFoundError
from ..core.records import iter_lines
from ..core.stream_records import StreamRecord
from ..core.timeline_store import change_roots

log = logging.getLogger(__name__)

STREAM_RETENTION_SECONDS = 24 * 3600
MAX_RECORDS = 1_000_000  # beyond this the proof costs more than waiting out the retention
OPEN_SHARD_EMPTY_PAGES = 3  # an open shard answers empty pages at its tip
MAX_PAGES_PER_SHARD = 100_000
ARRIVAL_MARGIN_SECONDS = 3600  # Firehose files by arrival hour; allow for clock skew


@dataclass(frozen=True)
class DrainCheck:
    """How many stream records up to the cut-off are not in S3 yet (None: too many to check)."""

    pending: int | None
    checked: int = 0

    @property
    def consumed(self) -> bool:
        return self.pending == 0


def hour_prefixes(start: float, end: float) -> list[str]:
    """The `YYYY/MM/DD/HH/` partitions Firehose may have written between two epoch times."""
    hour = datetime.fromtimestamp(start, UTC).replace(minute=0, second=0, microsecond=0)
    last = datetime.fromtimestamp(end, UTC)
    out = []
    while hour <= last:
        out.append(hour.strftime("%Y/%m/%d/%H/"))
        hour += timedelta(hours=1)
    return out


def stream_records(streams: Any, stream_arn: str, cutoff: float, limit: int = MAX_RECORDS) -> dict[str, float] | None:
    """eventID -> time of every record of the stream created at or before `cutoff`; None when
    there are more than `limit`, or the stream is gone (its records expired with it)."""
    found: dict[str, float] = {}
    try:
        shards = _shards(streams, stream_arn)
        for shard in shards:
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            iterator = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            ).get("ShardIterator")
            empty = 0
            for _ in range(MAX_PAGES_PER_SHARD):
                if not iterator:
                    break
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                records = page.get("Records", [])
                newer = False
                for record in records:
                    when = StreamRecord(record).approximate_creation_time or 0.0
                    if when > cutoff:
                        newer = True
                        break
                    found[StreamRecord(record).event_id] = when
                if len(found) > limit:
                    return None
                if newer:
                    break
                empty = 0 if records else empty + 1
                if empty >= OPEN_SHARD_EMPTY_PAGES and not closed:
                    break
                iterator = page.get("NextShardIterator")
    except AwsNotFoundError:
        return _gone(stream_arn)
    except AwsError as exc:
        if exc.code != "TrimmedDataAccessException":
            raise
        return _gone(stream_arn)  # its records expired
    return found


def _gone(stream_arn: str) -> dict[str, float]:
    log.info("stream %s is gone: nothing left to deliver from it", stream_arn)
    return {}


def _shards(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = []
    start: dict[str, str] = {}
    while True:
        desc = streams.describe_stream(StreamArn=stream_arn, **start)["StreamDescription"]
        shards += desc.get("Shards", [])
        last = desc.get("LastEvaluatedShardId")
        if not last:
            return shards
        start = {"ExclusiveStartShardId": last}


def delivered(clients: Clients, config: Config, table: str, wanted: set[str], since: float, now: float) -> set[str]:
    """The `wanted` eventIDs found in the table's change objects written between `since` and `now`."""
    bucket = config.firehose_delivery_bucket
    found: set[str] = set()
    hours = hour_prefixes(since - ARRIVAL_MARGIN_SECONDS, now)
    for base, hour in ((root, hour) for root in change_roots(clients, config, table) for hour in hours):
        for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base + hour):
            for obj in page.get("Contents", []):
                body = clients.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                found |= {r["eventID"] for r in iter_lines(body) if r.get("eventID") in wanted}
                if found >= wanted:
                    return found
    return found


def check(
    clients: Clients, config: Config, table: str, stream_arns: Iterable[str], cutoff: float, now: float
) -> DrainCheck:
    """Are all records of these streams, up to `cutoff`, in S3?"""
    records: dict[str, float] = {}
    for arn in sorted(set(stream_arns)):
        found = stream_records(clients.streams, arn, cutoff, MAX_RECORDS - len(records))
        if found is None:
            return DrainCheck(None)
        records |= found
    if not records:
        return DrainCheck(0)
    wanted = set(records)
    missing = wanted - delivered(clients, config, table, wanted, min(records.values()), now)
    return DrainCheck(len(missing), len(records))
