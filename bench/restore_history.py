"""Restore bytes read, S3 requests and time of one table whose history is 1x, 10x and 50x its
size, with a checkpoint a day as the ensure function's schedule writes them (docs/design.md sections
10 and 11: every byte a restore GETs / (base + changes since) <= 1.1 at 50x; requests flat with
history; time at 50x within 1.3x of time at 1x). The histories are laid out in S3 as Firehose
and a scan leave them: one day of churn (one change per item) per 1x, each change in the hour
partition it arrived in. Also shown: the bytes a restore reads with no checkpoint."""

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


class S3Meter:
    """Every S3 request a client makes, and the bytes of every object body it GETs (manifests,
    facts and the schema too, not only the backups) and of every other response (listings)."""

    def __init__(self, s3: Any) -> None:
        self.requests: dict[str, int] = {}
        self.body_bytes = self.listing_bytes = 0
        self.on = False
        s3.meta.events.register("after-call.s3", self._count)

    def _count(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.on:
            return
        self.requests[model.name] = self.requests.get(model.name, 0) + 1
        if model.name == "GetObject":
            self.body_bytes += int(parsed.get("ContentLength", 0))
        else:
            self.listing_bytes += len(http_response.content or b"")

    def total_requests(self) -> int:
        return sum(self.requests.values())


def restore(
    clients: Any, config: Any, meter: S3Meter, table: str, target: str
) -> tuple[float, int, dict[str, int], int]:
    """(seconds, object bytes GET, requests by operation, listing bytes) of one whole restore
    with a fresh cache."""
    from dynamo_continuous_backup.restore.backups import BackupStore
    from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer

    store = BackupStore(clients, config, Path(tempfile.mkdtemp()))
    meter.requests, meter.body_bytes, meter.listing_bytes, meter.on = {}, 0, 0, True
    started = time.perf_counter()
    result = Restorer(clients, store).restore(table, target, RestoreOptions())
    seconds = time.perf_counter() - started
    meter.on = False
    assert result.verified and result.items == ITEMS
    return seconds, meter.body_bytes, dict(meter.requests), meter.listing_bytes


def daily_checkpoints(clients: Any, config: Any, table: str, days: int, now: float) -> str:
    """A checkpoint at the end of each day of history, as the schedule (checkpointIntervalHours
    24) writes them, the last one just now; returns the last one's run id."""
    from dynamo_continuous_backup.restore.backups import BackupStore
    from dynamo_continuous_backup.restore.checkpoint import Checkpointer

    start = now - days * DAY - 3600
    times = [float(int(start + d * DAY)) for d in range(1, days)] + [float(int(now - 60))]
    cache = Path(tempfile.mkdtemp())
    for at in times:
        cp = Checkpointer(BackupStore(clients, config, cache), clock=lambda: now).run(table, at)
    return cp.run_id


def main() -> None:
    with moto_process():
        from dynamo_continuous_backup.core.aws import Clients
        from dynamo_continuous_backup.core.config import Config

        clients = Clients("us-east-1")
        meter = S3Meter(clients.s3)
        clients.s3.create_bucket(Bucket=BUCKET)
        config = Config(firehose_delivery_bucket=BUCKET, region="us-east-1", firehose_delivery_prefix="backups")
        now = time.time()
        print(f"table of {ITEMS:,} items; history: one change per item per day, a checkpoint per day")
        times = {}
        for days in LENGTHS:
            table = f"hist{days}"
            objects = synthesize(clients.s3, table, days, now)
            _, without, _, _ = restore(clients, config, meter, table, f"{table}-plain")
            run_id = daily_checkpoints(clients, config, table, days, now)
            manifest = json.loads(
                clients.s3.get_object(Bucket=BUCKET, Key=f"backups/@snapshots/{table}/{run_id}/manifest.json")[
                    "Body"
                ].read()
            )
            base = sum(f["size"] for f in manifest["files"])
            since = sum(size for newest, size in objects.values() if newest > manifest["startTime"])
            seconds, read, requests, listed = min(
                (restore(clients, config, meter, table, f"{table}-r{n}") for n in range(3)), key=lambda r: r[0]
            )
            times[days] = seconds
            gets = requests.get("GetObject", 0)
            print(
                f"{days:>2}x history: restore {seconds:.2f} s; read {read / 1e6:.3f} MB in {gets} GETs, "
                f"{sum(requests.values())} S3 requests ({', '.join(f'{k} {v}' for k, v in sorted(requests.items()))}), "
                f"listings {listed / 1e3:.0f} kB; base {base / 1e6:.3f} MB + changes since "
                f"{since / 1e6:.3f} MB: ratio {read / (base + since):.2f} (target <= 1.1); "
                f"with no checkpoint it reads {without / 1e6:.2f} MB"
            )
        longest, shortest = max(LENGTHS), min(LENGTHS)
        print(f"time at {longest}x / time at {shortest}x: {times[longest] / times[shortest]:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
