"""What capture bills, measured: the local runtime (the deployed forwarder in Lambda's Python,
the embedded emulator) driven at a write rate for a while, two tables side by side: `window`
with the config's batching window, `today` with window 0 (the design before issue 18). Counted
at the emulator: Lambda invocations and their duration, PutRecordBatch calls, Firehose records
and their billed bytes (5 KB rounding a record, and as if each line were its own record), the
S3 PUTs Firehose's buffer would make; then the month's dollars from the price table, and the
estimate model's figures for a 1 GiB table of 1 KiB items with 35 days kept (docs/cost.md).

    python bench/cost.py [--seconds 60] [--rate 10] [--window 30]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dynamo_continuous_backup.provisioning import estimate as model  # noqa: E402
from dynamo_continuous_backup.provisioning.pricing import Prices  # noqa: E402

BUCKET = "bench-cost"
TABLES = ("window", "today")
KEYS = 100  # items written over and over: every change carries an old and a new image
ITEM_DATA = 1000  # bytes of the item's one value: about 1 KiB items
MONTH = model.MONTH_SECONDS


@dataclass
class Bill:
    """What one table's capture would be billed for, counted during the run."""

    invocations: int = 0
    invoked_ms: float = 0.0  # Lambda bills each invocation's duration rounded up to 1 ms
    calls: int = 0  # PutRecordBatch
    records: int = 0
    lines: int = 0
    raw: int = 0
    billed: int = 0
    billed_a_line_a_record: int = 0  # the same lines, one Firehose record each
    arrivals: list[float] = field(default_factory=list)


BILLS: dict[str, Bill] = defaultdict(Bill)
LOCK = threading.Lock()


def rounded(size: int) -> int:
    return math.ceil(size / model.FIREHOSE_INCREMENT) * model.FIREHOSE_INCREMENT


def count_firehose() -> None:
    """Count every PutRecordBatch at the emulator's Firehose, whatever the forwarder packs."""
    from moto.firehose.models import FirehoseBackend

    original = FirehoseBackend.put_record_batch

    def put_record_batch(self: Any, name: str, records: list[dict[str, Any]]) -> Any:
        with LOCK:
            bill = BILLS[name]
            bill.calls += 1
            bill.arrivals.append(time.monotonic())
            for record in records:
                data = record["Data"]
                data = base64.b64decode(data) if isinstance(data, str) else data
                lines = data.splitlines(keepends=True)
                bill.records += 1
                bill.lines += len(lines)
                bill.raw += len(data)
                bill.billed += rounded(len(data))
                bill.billed_a_line_a_record += sum(rounded(len(line)) for line in lines)
        return original(self, name, records)

    FirehoseBackend.put_record_batch = put_record_batch  # type: ignore[method-assign]


def flushes_per_month(bill: Bill, seconds: float, buffer_seconds: int) -> float:
    """S3 PUTs: Firehose flushes its buffer every `buffer_seconds` while data arrives (at most
    one per PutRecordBatch); the emulator writes one object per call instead."""
    return MONTH * min(bill.calls / seconds, 1 / max(1, buffer_seconds))


def monthly(bill: Bill, seconds: float, prices: Prices, buffer_seconds: int) -> dict[str, float]:
    scale = MONTH / seconds
    gb_s = bill.invoked_ms / 1000 * model.FORWARDER_MEMORY_MB / 1024
    return {
        "lambda": scale
        * (bill.invocations / 1e6 * prices.lambda_per_million_requests + gb_s * prices.lambda_per_gb_second),
        "firehose": scale * bill.billed / model.GB * prices.firehose_per_gb,
        "s3 puts": flushes_per_month(bill, seconds, buffer_seconds) / 1000 * prices.s3_per_thousand_puts,
    }


def run(seconds: float, rate: float, window: int) -> tuple[dict[str, Bill], float, int]:
    from dynamo_continuous_backup.cli.main import UI, main
    from dynamo_continuous_backup.core import naming
    from dynamo_continuous_backup.core.aws import Clients
    from dynamo_continuous_backup.core.config import load_config
    from dynamo_continuous_backup.local import LocalRuntime
    from dynamo_continuous_backup.local.emulator import EmbeddedMoto
    from dynamo_continuous_backup.provisioning.provisioner import Provisioner

    count_firehose()
    moto = EmbeddedMoto().start()
    os.environ.update(moto.environment())
    clients = Clients("us-east-1")
    clients.s3.create_bucket(Bucket=BUCKET)
    path = Path(tempfile.mkdtemp(prefix="dcb-bench-cost-")) / "config.hjson"
    path.write_text(json.dumps({"firehoseDeliveryBucket": BUCKET, "streamsBatchingWindowSeconds": window}))
    out = io.StringIO()
    if main(["deploy", "--config", str(path)], UI(out, out)) != 0:
        raise SystemExit(out.getvalue())
    config = load_config(path)
    value = "x" * ITEM_DATA
    for table in TABLES:
        clients.dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for k in range(KEYS):
            clients.dynamodb.put_item(TableName=table, Item={"pk": {"S": f"item-{k:06d}"}, "data": {"S": value}})
        table_window = window if table == "window" else 0
        Provisioner(clients, config.replace(streams_batching_window_seconds=table_window)).ensure(table)

    class Runtime(LocalRuntime):
        def invoke(self, function: str, event: dict[str, Any]) -> Any:
            if "Records" not in event:
                return super().invoke(function, event)
            table = event["Records"][0]["eventSourceARN"].split(":table/")[1].split("/")[0]
            started = time.monotonic()
            try:
                return super().invoke(function, event)
            finally:
                with LOCK:
                    BILLS[f"lambda:{table}"].invocations += 1
                    BILLS[f"lambda:{table}"].invoked_ms += math.ceil((time.monotonic() - started) * 1000)

    runtime = Runtime(clients).start()  # created after the tables: their CreateTable is not replayed
    writes = int(seconds * rate)
    start = time.monotonic()
    for i in range(writes):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        for table in TABLES:  # updates of 1 KiB items: an old and a new image each
            item = {"pk": {"S": f"item-{i % KEYS:06d}"}, "data": {"S": value}, "n": {"N": str(i)}}
            clients.dynamodb.put_item(TableName=table, Item=item)
    elapsed = time.monotonic() - start
    deadline = time.monotonic() + window + 60
    while any(BILLS[naming.delivery_stream_name(t)].lines < writes for t in TABLES):
        if time.monotonic() > deadline:
            raise SystemExit("the forwarder did not deliver every change in time")
        time.sleep(0.2)
    runtime.stop()
    moto.stop()
    bills = {}
    for t in TABLES:
        bill = BILLS[naming.delivery_stream_name(t)]
        bill.invocations, bill.invoked_ms = BILLS[f"lambda:{t}"].invocations, BILLS[f"lambda:{t}"].invoked_ms
        bills[t] = bill
    return bills, elapsed, config.firehose_delivery_interval_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("DCB_BENCH_COST_SECONDS", "60")))
    parser.add_argument("--rate", type=float, default=10.0, help="writes a second to each table")
    window = int(os.environ.get("DCB_BENCH_COST_WINDOW", "30"))
    parser.add_argument("--window", type=int, default=window, help="streamsBatchingWindowSeconds of the `window` table")
    args = parser.parse_args()
    prices = Prices()
    bills, seconds, buffer = run(args.seconds, args.rate, args.window)
    new, old = bills["window"], bills["today"]
    print(f"{int(args.seconds * args.rate)} updates of 1 KiB items to each table in {seconds:.0f} s ({args.rate:g}/s)")
    print(f"{'':34}{'window ' + str(args.window) + ' s':>16}{'today (window 0)':>18}")
    rows = [
        ("Lambda invocations", new.invocations, old.invocations),
        ("Lambda duration, ms", new.invoked_ms, old.invoked_ms),
        ("PutRecordBatch calls", new.calls, old.calls),
        ("Firehose records", new.records, old.records),
        ("NDJSON lines", new.lines, old.lines),
        ("raw bytes", new.raw, old.raw),
        ("billed bytes (5 KB a record)", new.billed, old.billed),
        ("billed bytes, one record a line", new.billed_a_line_a_record, old.billed_a_line_a_record),
    ]
    for label, a, b in rows:
        print(f"{label:34}{a:>16,.0f}{b:>18,.0f}")
    for label, bill in (("window", new), ("today", old)):
        dollars = monthly(bill, seconds, prices, buffer)
        parts = ", ".join(f"{k} ${v:,.2f}" for k, v in dollars.items())
        print(f"a month of this ({label}): {parts}; total ${sum(dollars.values()):,.2f}")
    ratio = new.invocations / max(1, old.invocations)
    print(f"invocations ratio window/today: {ratio:.4f} (goal <= 0.05: {'met' if ratio <= 0.05 else 'MISSED'})")
    # The emulator polls as fast as this machine lets it; Lambda polls a shard 4 times a second.
    polls = min(new.lines, seconds * model.POLLS_PER_SECOND)
    print(
        f"  at Lambda's {model.POLLS_PER_SECOND} polls a second window 0 would invoke about {polls:,.0f} times: "
        f"ratio {new.invocations / max(1, polls):.4f}"
    )
    billed = new.billed / max(1, new.raw)
    packed = new.lines / max(1, new.records)
    print(
        f"Firehose billed/raw bytes ratio: {billed:.3f} with {packed:.1f} lines a record as the forwarder sent them "
        f"(goal <= 1.02: {'met' if billed <= 1.02 else 'MISSED'}); one record a line: "
        f"{new.billed_a_line_a_record / max(1, new.raw):.3f}"
    )
    print("estimate model, a 1 GiB table of 1 KiB items, 35 days of changes kept (month 12's bill):")
    usage = [model.TableUsage("t", 1024**3, 1024**2, r, "bench") for r in (10.0, 100.0)]
    today = model.Settings(window_seconds=0, aggregate=False, retention_days=35)
    design = model.Settings(window_seconds=args.window, retention_days=35)
    per_gb = prices.s3_per_gb_month
    for u, goal in zip(usage, (3.0, 25.0), strict=True):
        before, after = model.estimate(u, today, prices), model.estimate(u, design, prices)
        print(
            f"  {u.writes_per_second:g} writes/s: today ${before.total:,.2f}, with window and aggregation "
            f"${after.total:,.2f} (Lambda ${after.lambda_:,.2f}, Firehose ${after.firehose:,.2f}, S3 changes "
            f"${after.changes_gb * per_gb:,.2f}, S3 bases ${after.bases_gb * per_gb:,.2f}, "
            f"PUTs ${after.s3_puts:,.2f}); goal <= ${goal:g}: {'met' if after.total <= goal else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
