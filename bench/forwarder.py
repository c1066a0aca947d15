"""Forwarder throughput, sustained: records per CPU-second over many invocations of the
1,000-record event (after warm-up, the median invocation), Firehose stubbed.

Beside ours, in the same run on the same input: encoding the same backup records with orjson
alone (the ceiling) and with the stdlib json alone. `--lambda` also runs the whole measurement
on Lambda's Python 3.12 (local/lambda_python.py) with the deployed zip unpacked (the package and
the wheels it ships, install/packaging.py); `--node` measures bench/node_forwarder.js, a Node.js
forwarder doing the same job (one Firehose record per change, as the tool this replaces did).
Also reports Firehose records and PutRecordBatch calls per 1,000 changes.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EVENT = HERE / "data" / "dynamodb-stream-event-1000.json.gz"
INVOCATIONS = int(os.environ.get("DCB_BENCH_INVOCATIONS", "200"))
WARMUP = int(os.environ.get("DCB_BENCH_WARMUP", "20"))


def sustained(funcs: dict[str, Callable[[], Any]], records: int) -> dict[str, float]:
    """Median records per CPU-second of each function over INVOCATIONS calls, after WARMUP
    calls; the functions take turns, so a busy machine slows them all alike."""
    for _ in range(WARMUP):
        for func in funcs.values():
            func()
    rates: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(INVOCATIONS):
        for name, func in funcs.items():
            start = time.process_time()
            func()
            rates[name].append(records / max(time.process_time() - start, 1e-9))
    return {name: statistics.median(found) for name, found in rates.items()}


class StubFirehose:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(len(Records))
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"}] * len(Records)}


_COPIED = ("Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "ApproximateCreationDateTime")


def backup_record(record: dict[str, Any], table: str) -> dict[str, Any]:
    """The backup record, mapped as plainly as the product did before it was tuned: the
    ceilings' fixed share of work (kept here so they stay comparable across versions)."""
    ddb = record["dynamodb"]
    out = {k: ddb[k] for k in _COPIED if k in ddb}
    out.update(eventName=record["eventName"], eventID=record["eventID"], tableName=table)
    if "userIdentity" in record:
        out["userIdentity"] = record["userIdentity"]
    return out


def measure(event: dict[str, Any]) -> dict[str, Any]:
    """The figures of one interpreter (imports the package from sys.path)."""
    import orjson

    from dynamo_continuous_backup.capture.forwarder import Forwarder
    from dynamo_continuous_backup.forwarder import handler

    records = event["Records"]
    n = len(records)
    stub = StubFirehose()
    fwd = Forwarder(stub, None, "bucket", "prefix")
    table = "bench"
    with contextlib.redirect_stdout(io.StringIO()):  # the metric lines Lambda would log: measured, not shown
        rates = sustained(
            {
                "ours": lambda: handler(event, None, fwd),
                "orjson": lambda: [orjson.dumps(backup_record(r, table)) + b"\n" for r in records],
                "stdlib": lambda: [json.dumps(backup_record(r, table)).encode() + b"\n" for r in records],
            },
            n,
        )
        stub.calls.clear()
        handler(event, None, fwd)
        per_event = list(stub.calls)
        stub.calls.clear()
        handler({"Records": records * 10}, None, fwd)  # a 10,000-record batch: the largest Lambda sends
    size = sum(len(orjson.dumps(backup_record(r, table))) for r in records) / n
    return {
        "python": sys.version.split()[0],
        "records": n,
        "record_bytes": size,
        **rates,
        "firehose_records_per_event": sum(per_event),
        "calls_per_event": len(per_event),
        "calls_for_10000": len(stub.calls),
    }


def in_child(python: str, event_path: Path, path: list[Path]) -> dict[str, Any]:
    """The measurement in another interpreter, importing from `path` (first wins)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))}
    out = subprocess.run(
        [python, str(Path(__file__).resolve()), "--child", str(event_path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def on_lambda_python(event_path: Path, baseline: Path | None = None) -> dict[str, Any]:
    """The same measurement on Lambda's Python 3.12 with the deployed zip's code and wheels
    (with `baseline`: that checkout's package instead of the zip's, the zip's wheels)."""
    sys.path.insert(0, str(HERE.parent / "src"))
    from dynamo_continuous_backup.install.packaging import build_zip, fetch_wheels
    from dynamo_continuous_backup.local.lambda_python import lambda_python

    folder = Path(tempfile.mkdtemp(prefix="dcb-bench-zip-"))
    try:
        with zipfile.ZipFile(io.BytesIO(build_zip(fetch_wheels()))) as z:
            z.extractall(folder)
        return in_child(lambda_python(), event_path, [baseline / "src", folder] if baseline else [folder])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def on_node(event_path: Path) -> float | None:
    """Records per CPU-second of the Node.js forwarder (None: no `node` on PATH)."""
    node = shutil.which("node")
    if not node:
        return None
    out = subprocess.run(
        [node, str(HERE / "node_forwarder.js"), str(event_path), str(INVOCATIONS), str(WARMUP)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout)["rate"])


def show(label: str, m: dict[str, Any], node: float | None) -> None:
    print(f"{label} (Python {m['python']}):")
    print(f"  forwarder (encode + aggregate + pack + stubbed PutRecordBatch): {m['ours']:,.0f} records/CPU-s")
    print(f"  orjson encode only: {m['orjson']:,.0f} records/CPU-s, ratio {m['ours'] / m['orjson']:.2f}")
    print(f"  stdlib json encode only: {m['stdlib']:,.0f} records/CPU-s, ours/stdlib {m['ours'] / m['stdlib']:.2f}")
    if node:
        print(f"  Node.js forwarder: {node:,.0f} records/CPU-s, ratio ours/Node {m['ours'] / node:.2f} (goal >= 2.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambda", dest="on_lambda", action="store_true", help="also on Lambda's Python 3.12")
    parser.add_argument("--node", action="store_true", help="also measure the Node.js forwarder")
    parser.add_argument("--baseline", type=Path, help="also measure another checkout (e.g. a git worktree of main)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # inside Lambda's Python, the package and orjson come from the unpacked zip
        print(json.dumps(measure(json.loads(gzip.decompress(args.child.read_bytes())))))
        return
    sys.path.insert(0, str(HERE.parent / "src"))
    local = measure(json.loads(gzip.decompress(EVENT.read_bytes())))
    node = on_node(EVENT) if args.node else None
    print(f"input: {local['records']} records of ~{local['record_bytes']:.0f} B ({EVENT.name})")
    print(f"sustained: median of {INVOCATIONS} invocations after {WARMUP} warm-up, CPU time")
    show("local", local, node)
    if args.baseline:
        show(f"local, baseline {args.baseline}", in_child(sys.executable, EVENT, [args.baseline / "src"]), node)
    if args.on_lambda:
        show("Lambda runtime, deployed zip", on_lambda_python(EVENT), node)
        if args.baseline:
            show(f"Lambda runtime, baseline {args.baseline}", on_lambda_python(EVENT, args.baseline), node)
    print(
        f"per 1,000 changes: {local['firehose_records_per_event']} Firehose records in {local['calls_per_event']} "
        f"PutRecordBatch call(s); 10,000 changes: {local['calls_for_10000']} call(s)"
    )
    print(f"target: >= 140,000 records/CPU-s -> {'met' if local['ours'] >= 140_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
