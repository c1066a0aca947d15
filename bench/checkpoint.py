"""Checkpoint of a 100,000-item base plus 1,000,000 changes into a new base file: time and
peak memory of the whole process, beside the state at T over the same input measured the same
way in the same run (docs/design.md section 10: <= 2 s and <= 400 MB)."""

from __future__ import annotations

import gzip
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from common import measure_child, report_child  # noqa: E402
from state import KEYS, RECORDS, generate  # noqa: E402

BASE_ITEMS = int(os.environ.get("DCB_BENCH_BASE_ITEMS", str(KEYS)))
BASE_TIME = 1_699_999_000.0  # before the first change


def generate_base(folder: Path) -> None:
    rng = random.Random(2)
    lines = []
    for i in range(BASE_ITEMS):
        key = {"pk": {"S": f"user-{i:06d}"}}
        image = {**key, "n": {"N": "0"}, "s": {"S": "new"}, "note": {"S": rng.randbytes(24).hex()}}
        lines.append(orjson.dumps({"Keys": key, "NewImage": image, "eventName": "SNAPSHOT"}))
    (folder / "base.ndjson.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n", compresslevel=6))


def child(mode: str, folder: str, at: float) -> None:
    from dynamo_continuous_backup.restore.backups import LocalBackups, SnapshotRun
    from dynamo_continuous_backup.restore.checkpoint import write_state
    from dynamo_continuous_backup.restore.statequery import connect, iter_state

    root = Path(folder)
    base = SnapshotRun("base", BASE_TIME, BASE_TIME + 60, BASE_ITEMS, (root / "base.ndjson.gz",))
    changes = sorted((root / "changes").glob("*.gz"))
    schema = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
    backups = LocalBackups("bench", changes, [base], schema)
    start = time.perf_counter()
    if mode == "checkpoint":
        with tempfile.TemporaryDirectory() as out:
            _, _, items = write_state(backups, at, Path(out) / "checkpoint.ndjson.gz")
    else:
        items = sum(1 for _ in iter_state(connect(), backups, at))
    report_child(items, start)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "changes").mkdir()
        at = generate(folder / "changes") + RECORDS  # after every change: the whole history is folded in
        generate_base(folder)
        size = sum(f.stat().st_size for f in folder.rglob("*.gz")) / 1e6
        print(f"input: a {BASE_ITEMS:,}-item base and {RECORDS:,} changes over {KEYS:,} keys, {size:.0f} MB gzip")
        ours = min((measure_child(__file__, "checkpoint", folder, at) for _ in range(3)), key=lambda r: r[1])
        state = min((measure_child(__file__, "state", folder, at) for _ in range(3)), key=lambda r: r[1])
        assert ours[0] == state[0], f"item counts differ: {ours[0]} vs {state[0]}"
        print(f"checkpoint (state -> gzip base file): {ours[1]:.2f} s, peak {ours[2]:.0f} MB, {ours[0]:,} items")
        print(f"state at T alone (streamed rows):     {state[1]:.2f} s, peak {state[2]:.0f} MB")
        print(f"ratio time checkpoint/state {ours[1] / state[1]:.2f}; target <= 2 s and <= 400 MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        main()
