"""A progress bar (items, items/s, ETA) on a terminal; nothing otherwise (commands print a
summary line at the end either way)."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import Any


class Progress:
    def __init__(self, description: str, total: int | None = None, unit: str = "item") -> None:
        self._bar: Any = None
        self._lock = threading.Lock()
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=description, unit=unit, unit_scale=True, leave=False)

    def update(self, n: int) -> None:
        if self._bar is not None and n:
            with self._lock:
                self._bar.update(n)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.close()
