"""The ensure function's checkpoint stays inside the function's memory with its window at the cap,
measured: the real ScheduledCheckpoints runs against the emulator in a fresh process, whose
peak resident memory (VmHWM, which starts afresh at exec) is read back. To stay quick the cap is
scaled down by SCALE and so is the bound: peak <= baseline + (MemorySize - baseline) / SCALE, the
same proportion the full cap must keep (bench/fold_memory.py measures the full cap)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.timeline import iso
from dynamo_continuous_backup.core.timeline_store import read_timeline
from dynamo_continuous_backup.install.spec import functions
from dynamo_continuous_backup.snapshot.checkpoint import MAX_HELD_BYTES
from dynamo_continuous_backup.snapshot.fold import HELD_PER_KEY, key_text

from ..helpers import BUCKET

SCALE = 4
BASE_ITEMS = 50_000  # of 12 attributes: held whole as dicts, about 150 MB, over the scaled bound
ATTRIBUTES = b"".join(b',"a%d":{"S":"base"}' % a for a in range(11))
NOW = time.time()
T0 = NOW - 2 * 86400

CHILD = """
import json, sys
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.snapshot import checkpoint

def vm(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024

region, bucket, now, scale = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
checkpoint.MAX_HELD_BYTES //= scale
clients = Clients(region)
config = Config(firehose_delivery_bucket=bucket, region=region, firehose_delivery_prefix="backups",
                checkpoint_interval_hours=24)
clients.s3.head_bucket(Bucket=bucket)  # the clients are built and connected: the function's baseline
baseline = vm("VmRSS:")
done = checkpoint.ScheduledCheckpoints(clients, config, clock=lambda: now).run("mem")
print(json.dumps({"action": done.action, "reason": done.reason, "baseline": baseline, "peak": vm("VmHWM:")}))
"""


def synthesize(aws: Clients) -> int:
    """A scan base of BASE_ITEMS items and changes whose newest per key hold just under the
    scaled cap; returns the items of the state after them."""
    label = iso(T0 - 3600).replace("Z", ".000")
    run = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(T0)) + "-scan"
    prefix = f"backups/@snapshots/mem/{run}/"
    body = gzip.compress(b"".join(b'{"Item":{"pk":{"S":"k%07d"}%s}}\n' % (i, ATTRIBUTES) for i in range(BASE_ITEMS)), 1)
    aws.s3.put_object(Bucket=BUCKET, Key=prefix + "part-00000.ndjson.gz", Body=body)
    manifest = {
        "runId": run,
        "kind": "scan",
        "streamArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/mem/stream/{label}",
        "startTime": T0,
        "endTime": T0 + 60,
        "items": BASE_ITEMS,
        "files": [{"key": prefix + "part-00000.ndjson.gz", "size": len(body)}],
    }
    aws.s3.put_object(Bucket=BUCKET, Key=prefix + "manifest.json", Body=json.dumps(manifest).encode())
    schema = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
    aws.s3.put_object(Bucket=BUCKET, Key="backups/@schemas/mem/schema.json", Body=json.dumps(schema).encode())
    lines, held, n = [], 0, 0
    while True:  # one change per key, every other one a key the base lacks, every 10th a REMOVE
        key = {"pk": {"S": f"k{n * 2:07d}"}}
        record = {
            "Keys": key,
            "SequenceNumber": str(10**20 + n),
            "eventName": "REMOVE" if n % 10 == 9 else "MODIFY",
            "ApproximateCreationDateTime": T0 + 600 + n,
            "streamLabel": label,
        }
        if n % 10 != 9:
            record["NewImage"] = {**key, "pad": {"S": "z" * 2000}}
        line = json.dumps(record).encode()
        size = len(key_text(key, ["pk"])) + len(record["SequenceNumber"]) + HELD_PER_KEY
        size += len(line) if n % 10 != 9 else 0
        if held + size > MAX_HELD_BYTES // SCALE * 0.97:
            break
        lines.append(line)
        held, n = held + size, n + 1
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(T0 + 3600))
    aws.s3.put_object(Bucket=BUCKET, Key=f"backups/mem/{hour}/part", Body=gzip.compress(b"\n".join(lines), 1))
    removed = sum(1 for i in range(n) if i % 10 == 9 and i * 2 < BASE_ITEMS)
    added = sum(1 for i in range(n) if i % 10 != 9 and i * 2 >= BASE_ITEMS)
    return BASE_ITEMS - removed + added


def test_a_window_at_the_cap_folds_inside_the_functions_memory(aws: Clients, config: Config) -> None:
    # GIVEN a base far larger than the function could hold, and changes at the (scaled) cap
    items = synthesize(aws)
    memory = next(f.memory for f in functions(config) if f.handler.startswith("dynamo_continuous_backup.ensure"))
    # WHEN the function's scheduled checkpoint runs, in a process of its own
    out = subprocess.run(
        [sys.executable, "-c", CHILD, config.region, BUCKET, str(NOW), str(SCALE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    # THEN it wrote the checkpoint (no hand-off), with every item of the state
    assert result["action"] == "checkpoint", result
    [_, checkpoint] = [b for g in read_timeline(aws, config, "mem").generations for b in g.bases]
    assert checkpoint.kind == "checkpoint" and checkpoint.items == items
    # AND its peak memory kept the proportion that keeps the full cap inside the function
    bound = result["baseline"] + (memory - result["baseline"]) / SCALE
    assert result["peak"] < bound, (
        f"peak {result['peak']:.0f} MB over {bound:.0f} MB (baseline {result['baseline']:.0f})"
    )
