"""Pure packing: consecutive NDJSON lines into Firehose records (at most 500 lines and
1,000 KiB each), and records into PutRecordBatch calls (at most 500 records / 4 MiB each)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from itertools import accumulate

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
# Firehose's record limit is 1,000 KiB before base64; leave room for nothing else.
MAX_RECORD_BYTES = 1000 * 1024
# Firehose de-aggregates at most 500 JSON objects per record (dynamic partitioning needs one
# change at a time), so no record carries more, whatever the layout.
MAX_LINES_PER_RECORD = 500


def aggregate(
    sizes: Sequence[int], max_lines: int = MAX_LINES_PER_RECORD, max_bytes: int = MAX_RECORD_BYTES
) -> list[tuple[int, int]]:
    """Split lines of `sizes` bytes (newline included), in order, into runs [start, end) that
    each fill one Firehose record as far as both limits allow. A line over `max_bytes` gets a
    run of its own (the caller stores such lines elsewhere)."""
    # by bisection: a step per record, not per line (capture/forwarder.py applies the same
    # rule line by line while it encodes)
    ends = list(accumulate(sizes))  # ends[i]: bytes of lines 0..i
    runs: list[tuple[int, int]] = []
    start, n = 0, len(ends)
    while start < n:
        before = ends[start - 1] if start else 0
        end = bisect_right(ends, before + max_bytes, start, min(n, start + max_lines))
        end = max(end, start + 1)
        runs.append((start, end))
        start = end
    return runs


def pack(
    indices: Sequence[int],
    sizes: Sequence[int] | Mapping[int, int],
    max_records: int = MAX_BATCH_RECORDS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Iterator[list[int]]:
    """Yield runs of `indices`, in order, each as large as both limits allow."""
    batch: list[int] = []
    total = 0
    for i in indices:
        size = sizes[i]
        if batch and (len(batch) == max_records or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(i)
        total += size
    if batch:
        yield batch
