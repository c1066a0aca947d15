"""Restore bytes read and time of one table whose history is 1x, 10x and 50x its size, with a
checkpoint after the churn (docs/design.md section 10: bytes read / (base + changes since) <= 1.2 at
every length; time at 50x within 1.3x of time at 1x). The histories are laid out in S3 as
Firehose and a scan leave them: one day of churn (one change per item) per 1x, each change in
the hour partition it arrived in. Also shown: the bytes a restore reads with no checkpoint."""

from __future__ import annotations

import gzip
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from common import moto_process

ITEMS = int(os.environ.get("DCB_BENCH_HISTORY_ITEMS", "2000"))
LENGTHS = tuple(int(x) for x in os.environ.get("DCB_BENCH_HISTORY_LENGTHS", "1,10,50").split(","))
DAY = 86400.0
BUCKET = "bench-backups"


def synthesize(s3: Any, table: str, days: int, now: float) -> dict[str, tuple[float, int]]:
    """A base `days` days ago and ITEMS changes a day since; returns each change object's key
    -> (newest record time, size)."""
    rng = random.Random(days)
    start = now - days * DAY - 3600
    label = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start - 3600)) + ".000"
    image = {"note": {"S": "x" * 150}}

    def item(i: int, n: int) -> dict[str, Any]:
        return {"pk": {"S": f"k{i:06d}"}, "n": {"N": str(n)}, **image}

    rows = b"".join(
        json.dumps({"Keys": {"pk": {"S": f"k{i:06d}"}}, "NewImage": item(i, 0)}).encode() + b"\n" for i in range(ITEMS)
    )
    body = gzip.compress(rows)
    run = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start)) + "-scan"
    prefix = f"backups/@snapshots/{table}/{run}/"
    s3.put_object(Bucket=BUCKET, Key=prefix + "part.gz", Body=body)
    manifest = {
        "runId": run,
        "table": table,
        "kind": "scan",
        "streamArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/{label}",
        "startTime": start,
        "endTime": start + 60,
        "items": ITEMS,
        "files": [{"key": prefix + "part.gz", "size": len(body), "etag": "", "sha256": ""}],
    }
    s3.put_object(Bucket=BUCKET, Key=prefix + "manifest.json", Body=json.dumps(manifest).encode())
    s3.put_object(
        Bucket=BUCKET,
        Key=f"backups/@schemas/{table}/schema.json",
        Body=json.dumps(
            {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            }
        ).encode(),
    )
    hours: dict[str, list[dict[str, Any]]] = {}
    total = days * ITEMS
    for n in range(total):
        when = float(int(start + 120 + n * (days * DAY - 600) / total))
        i = rng.randrange(ITEMS)
        record = {
            "Keys": {"pk": {"S": f"k{i:06d}"}},
            "NewImage": item(i, n + 1),
            "SequenceNumber": str(10**20 + n),
            "eventName": "MODIFY",
            "eventID": f"{n:032x}",
            "ApproximateCreationDateTime": when,
            "streamLabel": label,
        }
        hours.setdefault(time.strftime("%Y/%m/%d/%H", time.gmtime(when + rng.uniform(0, 120))), []).append(record)
    objects = {}
    for hour, records in hours.items():
        data = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records))
        key = f"backups/{table}/{hour}/part"
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        objects[key] = (max(r["ApproximateCreationDateTime"] for r in records), len(data))
    return objects


def restore(clients: Any, config: Any, table: str, target: str) -> tuple[float, int, int]:
    """(seconds, bytes read, items) of one whole restore with a fresh cache."""
    from dynamo_continuous_backup.restore.backups import BackupStore
    from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer

    store = BackupStore(clients, config, Path(tempfile.mkdtemp()))
    started = time.perf_counter()
    result = Restorer(clients, store).restore(table, target, RestoreOptions())
    assert result.verified and result.items == ITEMS
    return time.perf_counter() - started, store.fetched_bytes, result.items


def main() -> None:
    with moto_process():
        from dynamo_continuous_backup.core.aws import Clients
        from dynamo_continuous_backup.core.config import Config
        from dynamo_continuous_backup.restore.backups import BackupStore
        from dynamo_continuous_backup.restore.checkpoint import Checkpointer

        clients = Clients("us-east-1")
        clients.s3.create_bucket(Bucket=BUCKET)
        config = Config(firehose_delivery_bucket=BUCKET, region="us-east-1", firehose_delivery_prefix="backups")
        now = time.time()
        print(f"table of {ITEMS:,} items; history: one change per item per day")
        times = {}
        for days in LENGTHS:
            table = f"hist{days}"
            objects = synthesize(clients.s3, table, days, now)
            _, without, _ = restore(clients, config, table, f"{table}-plain")
            cp = Checkpointer(BackupStore(clients, config, Path(tempfile.mkdtemp()))).run(table, float(int(now - 60)))
            manifest = json.loads(
                clients.s3.get_object(Bucket=BUCKET, Key=f"backups/@snapshots/{table}/{cp.run_id}/manifest.json")[
                    "Body"
                ].read()
            )
            base = sum(f["size"] for f in manifest["files"])
            since = sum(size for newest, size in objects.values() if newest > manifest["startTime"])
            seconds, read, _ = min(
                (restore(clients, config, table, f"{table}-r{n}") for n in range(3)), key=lambda r: r[0]
            )
            times[days] = seconds
            print(
                f"{days:>2}x history: restore {seconds:.2f} s, read {read / 1e6:.2f} MB; base {base / 1e6:.2f} MB + "
                f"changes since {since / 1e6:.2f} MB: ratio {read / (base + since):.2f} (target <= 1.2); "
                f"with no checkpoint it reads {without / 1e6:.2f} MB"
            )
        longest, shortest = max(LENGTHS), min(LENGTHS)
        print(f"time at {longest}x / time at {shortest}x: {times[longest] / times[shortest]:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
