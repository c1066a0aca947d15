from dynamo_continuous_backup.capture.batching import MAX_BATCH_BYTES, pack


def test_packs_500_records_per_call() -> None:
    batches = list(pack(range(1200), [100] * 1200))
    assert [len(b) for b in batches] == [500, 500, 200]
    assert [i for b in batches for i in b] == list(range(1200))  # order kept


def test_packs_by_bytes() -> None:
    size = 1000 * 1024
    batches = list(pack(range(10), [size] * 10))
    assert all(sum(size for _ in b) <= MAX_BATCH_BYTES for b in batches)
    assert [len(b) for b in batches] == [4, 4, 2]
