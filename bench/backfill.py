"""Backfill items/s as a ratio to a bare boto3 parallel scan with the same segment count,
on the same moto endpoint in the same run (alternated, best of three each)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from common import ITEMS, bench_table, timed

SEGMENTS = 4


def main() -> None:
    with bench_table() as (clients, config):
        from dynamo_continuous_backup.snapshot.backfill import Backfill

        def bare() -> None:
            def segment(s: int) -> int:
                n, start = 0, None
                while True:
                    args = {"TableName": "bench", "Segment": s, "TotalSegments": SEGMENTS}
                    page = clients.dynamodb.scan(**args, **({"ExclusiveStartKey": start} if start else {}))
                    n += len(page["Items"])
                    start = page.get("LastEvaluatedKey")
                    if not start:
                        return n

            with ThreadPoolExecutor(SEGMENTS) as pool:
                assert sum(pool.map(segment, range(SEGMENTS))) == ITEMS

        def ours() -> None:
            assert Backfill(clients, config, "bench", SEGMENTS).run().items == ITEMS

        runs = {"bare": [], "ours": []}
        for _ in range(3):
            runs["bare"].append(timed(bare))
            runs["ours"].append(timed(ours))
        b = min(runs["bare"])
        o = min(runs["ours"])
        print(f"input: {ITEMS:,} items, {SEGMENTS} segments, moto server in its own process")
        print(f"bare boto3 parallel scan: {ITEMS / b[0]:,.0f} items/s, client CPU {b[1] / ITEMS * 1e6:.0f} us/item")
        print(
            f"our backfill (+ gzip NDJSON to S3, checkpoints, manifest): {ITEMS / o[0]:,.0f} items/s, "
            f"client CPU {o[1] / ITEMS * 1e6:.0f} us/item"
        )
        print(f"ratio ours/bare {b[0] / o[0]:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
