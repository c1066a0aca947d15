"""Where one machine stops being enough: the state at T on the DuckDB path over growing
histories (the same synthetic records as state.py), its throughput in MB of gzip input per
second and its peak memory, and what that rate means for larger windows (docs/athena.md, Large tables)."""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import measure_child  # noqa: E402
from state import generate  # noqa: E402

SIZES = [int(n) for n in os.environ.get("DCB_BENCH_SIZES", "250000,1000000,3000000").split(",")]
STATE = str(Path(__file__).resolve().parent / "state.py")


def _decompress_seconds(folder: Path) -> float:
    """The ceiling: only reading and gunzipping the same objects, one thread."""
    start = time.perf_counter()
    for f in folder.glob("*.gz"):
        gzip.decompress(f.read_bytes())
    return time.perf_counter() - start


def main() -> None:
    rates = []
    for records in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            at = generate(folder, records)
            size = sum(f.stat().st_size for f in folder.glob("*.gz")) / 1e6
            items, seconds, peak = min((measure_child(STATE, "ours", folder, at) for _ in range(2)), key=lambda r: r[1])
            rates.append(size / seconds)
            raw = min(_decompress_seconds(folder) for _ in range(2))
            print(
                f"{records:>9,} records, {size:6.0f} MB gzip: {seconds:6.2f} s, peak {peak:5.0f} MB, "
                f"{size / seconds:5.1f} MB/s, {items:,} items at T; ratio to gunzip alone {seconds / raw:.2f}"
            )
    rate = min(rates[1:] or rates)  # the larger inputs: fixed costs no longer flatter the rate
    print(f"throughput of the DuckDB path here: {rate:.0f} MB/s of gzip change records (slowest of the larger runs)")
    for gb in (1, 10, 100):
        minutes = gb * 1000 / rate / 60
        print(f"  a {gb:>3} GB window (base + changes since): about {minutes:5.1f} min here, plus its download")


if __name__ == "__main__":
    main()
