"""Peak memory of the ensure function's checkpoint fold (snapshot/fold.py) over a 1,000,000-item
base and compressible changes, beside the fold it replaced (the whole base held as dicts), each
in a fresh process that imports boto3 as the function does (DESIGN.md section 11: memory inside
Lambda is bounded by what is held; the function has 512 MB). Case "at the cap": changes whose
newest images per key hold just under MAX_HELD_BYTES."""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_mb  # noqa: E402

BASE_ITEMS = int(os.environ.get("DCB_BENCH_FOLD_BASE", "1000000"))
T0 = 1_700_000_000.0
LABEL = "2023-11-14T22:00:00.000"


def change(n: int, image_bytes: int) -> bytes:
    """One compressible change of about `image_bytes`, to a key in the base or not."""
    key = {"pk": {"S": f"user-{n * 7 % (BASE_ITEMS * 2):07d}"}}
    record = {
        "Keys": key,
        "NewImage": {**key, "n": {"N": str(n)}, "pad": {"S": "z" * image_bytes}},
        "SequenceNumber": str(10**20 + n),
        "eventName": "MODIFY",
        "ApproximateCreationDateTime": T0 + 100 + n / 1000,
        "streamLabel": LABEL,
    }
    return json.dumps(record).encode() + b"\n"


def generate(folder: Path, changed_keys: int, image_bytes: int) -> None:
    """A base of BASE_ITEMS small items and one change to each of `changed_keys` keys, gzip."""
    with gzip.open(folder / "base.ndjson.gz", "wb", compresslevel=1) as f:
        for i in range(BASE_ITEMS):
            f.write(b'{"Item":{"pk":{"S":"user-%07d"},"n":{"N":"%d"},"s":{"S":"base"}}}\n' % (i, i))
    with gzip.open(folder / "changes.ndjson.gz", "wb", compresslevel=1) as f:
        for n in range(changed_keys):
            f.write(change(n, image_bytes))


def child(mode: str, folder: str) -> None:
    import boto3  # noqa: F401  (the function's baseline: boto3 is loaded)

    from dynamo_continuous_backup.core.timeline import Base, Timeline
    from dynamo_continuous_backup.snapshot import checkpoint
    from dynamo_continuous_backup.snapshot.fold import gzip_parts, merge, newest_changes, stream_lines

    root = Path(folder)
    at = T0 + 10**6
    window = Timeline("t").begin(LABEL, T0 - 10).with_base(LABEL, Base("b", "scan", T0, T0 + 1)).window(at, at)

    def chunks(name: str):  # type: ignore[no-untyped-def]
        with open(root / name, "rb") as f:
            while chunk := f.read(checkpoint.CHUNK_BYTES):
                yield chunk

    started = time.perf_counter()
    if mode == "stream":
        held = newest_changes(stream_lines(chunks("changes.ndjson.gz")), ["pk"], window, checkpoint.MAX_HELD_BYTES)
        count = [0]
        out = 0
        for part in gzip_parts(merge(stream_lines(chunks("base.ndjson.gz")), held, ["pk"], dict), 16 << 20, count):
            out += len(part)  # uploaded and dropped, as the function does
        items = count[0]
    else:  # the fold it replaced: every base item held as a dict, the output one gzip body
        from dynamo_continuous_backup.core.records import dumps, iter_lines, sequence_key

        def key_of(image: dict) -> str:  # type: ignore[type-arg]
            return json.dumps([image["pk"]], sort_keys=True)

        base = iter_lines((root / "base.ndjson.gz").read_bytes())
        state = {key_of(image): image for row in base if (image := row.get("NewImage") or row.get("Item"))}
        last: dict = {}  # type: ignore[type-arg]
        for record in iter_lines((root / "changes.ndjson.gz").read_bytes()):
            k = key_of(record["Keys"])
            if window.reads(record) and (
                k not in last or sequence_key(record["SequenceNumber"]) > sequence_key(last[k]["SequenceNumber"])
            ):
                last[k] = record
        for k, record in last.items():
            state[k] = record["NewImage"]
        body = gzip.compress(b"".join(dumps({"Item": image}) + b"\n" for _, image in sorted(state.items())), 3)
        items = len(state) if body else 0
    print(f"{items} {time.perf_counter() - started:.2f} {peak_mb():.0f}")


def measure(mode: str, folder: Path) -> tuple[int, float, float]:
    import subprocess

    done = subprocess.run([sys.executable, __file__, "--child", mode, str(folder)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the {mode} fold failed: {done.stderr.strip().splitlines()[-1]}")
    out = done.stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def main() -> None:
    from dynamo_continuous_backup.snapshot.checkpoint import MAX_HELD_BYTES
    from dynamo_continuous_backup.snapshot.fold import HELD_PER_KEY

    image = 1000
    held = len(change(10**6, image)) + len('[{"S": "user-0000000"}]') + 21 + HELD_PER_KEY  # per key, as counted
    at_cap = MAX_HELD_BYTES // held - 100  # just under the cap
    cases = [("compressible changes", 20_000), ("changes at the held cap", at_cap)]
    for name, keys in cases:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            generate(folder, keys, image)
            size = sum(f.stat().st_size for f in folder.glob("*.gz")) / 2**20
            print(f"{name}: base {BASE_ITEMS:,} items + {keys:,} changed keys, {size:.1f} MiB gzip")
            items, seconds, peak = measure("stream", folder)
            print(f"  streamed fold (now):        {seconds:6.2f} s, peak {peak:5.0f} MB, {items:,} items")
            items_old, seconds_old, peak_old = measure("whole", folder)
            assert items_old == items, (items_old, items)
            print(f"  whole-base fold (replaced): {seconds_old:6.2f} s, peak {peak_old:5.0f} MB")
            print(f"  peak ratio now / replaced: {peak / peak_old:.2f}")
    print("the ensure function has 512 MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
