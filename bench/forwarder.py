"""Forwarder throughput: serialisation + packing per CPU-second, Firehose stubbed.

Reports our records/CPU-s beside two ceilings measured in the same run on the same input:
encoding the same backup records with orjson alone, and with the stdlib json alone. Also
reports records per PutRecordBatch call against the 500-record ideal.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import orjson  # noqa: E402

from dynamo_continuous_backup.capture.forwarder import Forwarder  # noqa: E402
from dynamo_continuous_backup.core.records import backup_record  # noqa: E402
from dynamo_continuous_backup.forwarder import handler  # noqa: E402

EVENT = Path(__file__).parent / "data" / "dynamodb-stream-event-1000.json.gz"


class StubFirehose:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(len(Records))
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"}] * len(Records)}


def cpu_rate(func: Any, records: int, seconds: float = float(os.environ.get("DCB_BENCH_SECONDS", "2"))) -> float:
    """Records per CPU-second, best of repeated runs within `seconds`."""
    best = float("inf")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.process_time()
        func()
        best = min(best, time.process_time() - start)
    return records / best


def main() -> None:
    event = json.loads(gzip.decompress(EVENT.read_bytes()))
    records = event["Records"]
    n = len(records)
    stub = StubFirehose()
    fwd = Forwarder(stub, None, "bucket", "prefix")
    with contextlib.redirect_stdout(io.StringIO()):  # the metric lines Lambda would log: measured, not shown
        ours = cpu_rate(lambda: handler(event, None, fwd), n)
    table = "bench"
    ceiling = cpu_rate(lambda: [orjson.dumps(backup_record(r, table)) + b"\n" for r in records], n)
    stdlib = cpu_rate(lambda: [json.dumps(backup_record(r, table)).encode() + b"\n" for r in records], n)
    stub.calls.clear()
    with contextlib.redirect_stdout(io.StringIO()):
        handler({"Records": records * 10}, None, fwd)  # a 10,000-record batch: the largest Lambda sends
    per_call = sum(stub.calls) / len(stub.calls)
    size = sum(len(orjson.dumps(backup_record(r, table))) for r in records) / n
    print(f"input: {n} records of ~{size:.0f} B ({EVENT.name})")
    print(f"forwarder (encode + pack + stubbed PutRecordBatch): {ours:,.0f} records/CPU-s")
    print(f"ceiling, orjson encode only: {ceiling:,.0f} records/CPU-s, ratio {ours / ceiling:.2f}")
    print(f"stdlib json encode only: {stdlib:,.0f} records/CPU-s, ours/stdlib {ours / stdlib:.2f}")
    print(f"records per PutRecordBatch call: {per_call:.0f} (ideal 500), calls for 10,000 records: {len(stub.calls)}")
    print(f"target: >= 140,000 records/CPU-s -> {'met' if ours >= 140_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
