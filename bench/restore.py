"""Restore writes/s as a ratio to a bare BatchWriteItem loop with the same thread count, on
the same moto endpoint in the same run; and the whole restore (sync, state, write, verify)."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import ITEMS, bench_table, timed

THREADS = 8


def main() -> None:
    with bench_table() as (clients, config):
        from dynamo_continuous_backup.core.records import loads, wire_form
        from dynamo_continuous_backup.provisioning.provisioner import Provisioner
        from dynamo_continuous_backup.restore.backups import BackupStore
        from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer, RestoreResult
        from dynamo_continuous_backup.restore.statequery import connect, iter_state
        from dynamo_continuous_backup.restore.tablewrite import BatchWriter, chunks
        from dynamo_continuous_backup.snapshot.backfill import Backfill

        Backfill(clients, config, "bench", 4).run()
        Provisioner(clients, config).save_schema("bench")
        store = BackupStore(clients, config, Path(tempfile.mkdtemp()))
        backups = store.sync("bench")
        rows = list(iter_state(connect(), backups, None))
        restorer = Restorer(clients, store)
        tables = iter(range(100))

        def fresh() -> str:
            name = f"target-{next(tables)}"
            clients.dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            return name

        def bare(name: str) -> None:
            requests = [{"PutRequest": {"Item": wire_form(loads(img))}} for _, img, _ in rows]
            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(lambda c: clients.dynamodb.batch_write_item(RequestItems={name: c}), chunks(requests)))

        def ours(name: str) -> None:
            result = RestoreResult("bench", name, 0, None)
            BatchWriter(clients.dynamodb, name, THREADS).write(restorer._requests(iter(rows), {}, result, ["pk"]))
            assert result.items == ITEMS

        runs: dict[str, list[tuple[float, float]]] = {"bare": [], "ours": []}
        for _ in range(3):
            name = fresh()
            runs["bare"].append(timed(lambda n=name: bare(n)))
            name = fresh()
            runs["ours"].append(timed(lambda n=name: ours(n)))
        whole = timed(lambda: restorer.restore("bench", "whole", RestoreOptions(threads=THREADS)))
        b, o = min(runs["bare"]), min(runs["ours"])
        print(f"input: {ITEMS:,} items, {THREADS} threads, moto server in its own process")
        print(f"bare BatchWriteItem loop: {ITEMS / b[0]:,.0f} items/s, client CPU {b[1] / ITEMS * 1e6:.0f} us/item")
        print(
            f"our restore writes (+ checksum, UnprocessedItems handling): {ITEMS / o[0]:,.0f} items/s, "
            f"client CPU {o[1] / ITEMS * 1e6:.0f} us/item"
        )
        print(f"ratio ours/bare {b[0] / o[0]:.2f} (target >= 0.9)")
        print(
            f"whole restore (sync, state at T, create, write, verify by scan): {whole[0]:.1f} s "
            f"({ITEMS / whole[0]:,.0f} items/s)"
        )


if __name__ == "__main__":
    main()
