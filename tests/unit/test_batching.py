"""The pure packing of lines into Firehose records and of records into PutRecordBatch calls."""

from hypothesis import given
from hypothesis import strategies as st

from dynamo_continuous_backup.capture.batching import (
    MAX_BATCH_BYTES,
    MAX_LINES_PER_RECORD,
    MAX_RECORD_BYTES,
    aggregate,
    pack,
)


def test_packs_500_records_per_call() -> None:
    batches = list(pack(range(1200), [100] * 1200))
    assert [len(b) for b in batches] == [500, 500, 200]
    assert [i for b in batches for i in b] == list(range(1200))  # order kept


def test_packs_by_bytes() -> None:
    size = 1000 * 1024
    batches = list(pack(range(10), [size] * 10))
    assert all(sum(size for _ in b) <= MAX_BATCH_BYTES for b in batches)
    assert [len(b) for b in batches] == [4, 4, 2]


def test_a_record_holds_at_most_500_lines() -> None:
    assert aggregate([1200] * 1001) == [(0, 500), (500, 1000), (1000, 1001)]


def test_a_record_holds_at_most_1000_kib() -> None:
    # 2,000-byte lines: 512 fit in 1,000 KiB by bytes, so the line cap decides; 4,000-byte lines: bytes do
    assert aggregate([4000] * 300) == [(0, 256), (256, 300)]
    assert sum([4000] * 256) <= MAX_RECORD_BYTES < sum([4000] * 257)


def test_one_line_per_record_is_the_unaggregated_design() -> None:
    assert aggregate([10, 20, 30], max_lines=1) == [(0, 1), (1, 2), (2, 3)]


@given(
    st.lists(st.integers(1, MAX_RECORD_BYTES), max_size=1500),
    st.integers(1, MAX_LINES_PER_RECORD),
    st.integers(1, MAX_RECORD_BYTES),
)
def test_runs_cover_every_line_in_order_within_both_limits(sizes: list[int], max_lines: int, max_bytes: int) -> None:
    runs = aggregate(sizes, max_lines, max_bytes)
    # every line once, in order, no empty run
    assert [i for start, end in runs for i in range(start, end)] == list(range(len(sizes)))
    assert all(end > start for start, end in runs)
    for start, end in runs:
        assert end - start <= max_lines
        # over the byte limit only a line that alone exceeds it (the caller stores those in S3)
        assert sum(sizes[start:end]) <= max_bytes or end - start == 1
    # as full as the limits allow: the next line would not have fitted
    for (start, end), _ in zip(runs, runs[1:], strict=False):
        assert end - start == max_lines or sum(sizes[start : end + 1]) > max_bytes
