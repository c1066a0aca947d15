"""Pure packing of encoded lines into PutRecordBatch calls (500 records / 4 MiB each)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
# Firehose's record limit is 1,000 KiB before base64; leave room for nothing else.
MAX_RECORD_BYTES = 1000 * 1024


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
