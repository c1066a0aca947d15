"""Shared by the benchmarks: a moto server in its own process (so our CPU is measured apart
from the emulator's), and a 20,000-item table."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dynamo_continuous_backup.local.emulator import FAKE_ENV, free_port  # noqa: E402

ITEMS = int(os.environ.get("DCB_BENCH_ITEMS", "20000"))  # smaller only for the smoke test


@contextmanager
def moto_process() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/")
                break
            except OSError:
                time.sleep(0.1)
        os.environ.update(
            {**FAKE_ENV, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
        )
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


def item(i: int, rng: random.Random) -> dict:
    return {
        "pk": {"S": f"user-{i:06d}"},
        "email": {"S": f"{rng.getrandbits(40):x}@example.com"},
        "n": {"N": str(i)},
        "tags": {"SS": ["a", "b"]},
        "note": {"S": rng.randbytes(100).hex()},
    }


def make_table(dynamodb: object, name: str, items: int = ITEMS) -> None:
    from concurrent.futures import ThreadPoolExecutor

    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],  # type: ignore[attr-defined]
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    rng = random.Random(3)
    batches = [
        [{"PutRequest": {"Item": item(i, rng)}} for i in range(s, min(items, s + 25))] for s in range(0, items, 25)
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: dynamodb.batch_write_item(RequestItems={name: b}), batches))  # type: ignore[attr-defined]


@contextmanager
def bench_table() -> Iterator[tuple[Any, Any]]:
    """A moto process holding the 20,000-item table `bench` and a backup bucket: (clients, config)."""
    with moto_process():
        from dynamo_continuous_backup.core.aws import Clients
        from dynamo_continuous_backup.core.config import Config

        clients = Clients("us-east-1")
        make_table(clients.dynamodb, "bench")
        clients.s3.create_bucket(Bucket="bench-backups")
        yield clients, Config(firehose_delivery_bucket="bench-backups", region="us-east-1")


def timed(func: object) -> tuple[float, float]:
    """(wall seconds, our process's CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    func()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_child(script: str, mode: str, folder: Path, at: float) -> tuple[int, float, float]:
    """(items, seconds, peak MB of the whole process) of `script --child mode folder at`, run
    in a fresh process so its peak memory is its own."""
    out = subprocess.run(
        [sys.executable, script, "--child", mode, str(folder), str(at)], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def report_child(items: int, started: float) -> None:
    """What a `--child` run prints for `measure_child`: items, seconds since `started`, peak MB."""
    print(f"{items} {time.perf_counter() - started:.3f} {peak_mb():.0f}")


def peak_mb() -> float:
    """This process's peak resident memory. From /proc (VmHWM), which starts afresh at exec:
    getrusage's ru_maxrss keeps the peak of the process that forked it (here the parent that
    generated the input), which made every child look as large as the parent."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
