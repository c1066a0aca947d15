"""The benchmarks still run (tiny inputs, nothing timed): `make bench` must not rot unseen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench"
SMALL = {
    "DCB_BENCH_ITEMS": "300",
    "DCB_BENCH_RECORDS": "4000",
    "DCB_BENCH_SECONDS": "0.2",
    "DCB_BENCH_INVOCATIONS": "5",
    "DCB_BENCH_WARMUP": "1",
    "DCB_BENCH_HISTORY_ITEMS": "40",
    "DCB_BENCH_HISTORY_LENGTHS": "1,2",
    "DCB_BENCH_SIZES": "2000,4000",
    "DCB_BENCH_COST_SECONDS": "2",
    "DCB_BENCH_COST_WINDOW": "1",
    "DCB_BENCH_FOLD_BASE": "2000",
}


@pytest.mark.parametrize(
    "script",
    [
        "forwarder.py",
        "backfill.py",
        "restore.py",
        "state.py",
        "checkpoint.py",
        "restore_history.py",
        "crossover.py",
        "cost.py",
        "fold_memory.py",
    ],
)
def test_benchmark_runs(script: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | SMALL
    proc = subprocess.run(
        [sys.executable, str(BENCH / script)], capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ratio" in proc.stdout
