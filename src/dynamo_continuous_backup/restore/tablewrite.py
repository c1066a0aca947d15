"""Parallel BatchWriteItem: 25 requests per call, `threads` calls in flight, UnprocessedItems
retried with backoff until written; if they never are, fail loudly instead of dropping them."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from ..core.aws import is_code
from ..core.errors import AwsError

BATCH = 25
THROTTLES = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
)


def chunks(requests: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for r in requests:
        chunk.append(r)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class BatchWriter:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        threads: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        give_up_after: float = 600.0,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.dynamodb, self.table, self.threads = dynamodb, table, threads
        self.sleep, self.give_up_after = sleep, give_up_after
        self.progress = progress or (lambda n: None)
        self.retried = 0
        self._lock = threading.Lock()

    def write(self, requests: Iterable[dict[str, Any]]) -> int:
        """Write every request; return how many. Memory stays bounded: few chunks in flight."""
        written = 0
        slots = threading.BoundedSemaphore(self.threads * 2)
        futures: set[Future[int]] = set()
        with ThreadPoolExecutor(self.threads) as pool:
            for chunk in chunks(requests):
                slots.acquire()
                future = pool.submit(self._write_chunk, chunk)
                future.add_done_callback(lambda _: slots.release())
                futures.add(future)
                done = {f for f in futures if f.done()}
                for f in done:
                    written += f.result()  # re-raises a failed chunk at once
                futures -= done
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                written += f.result()
        return written

    def _write_chunk(self, chunk: list[dict[str, Any]]) -> int:
        pending, attempt, started = chunk, 0, time.monotonic()
        while pending:
            try:
                response = self.dynamodb.batch_write_item(RequestItems={self.table: pending})
                unprocessed = response.get("UnprocessedItems", {}).get(self.table, [])
            except Exception as exc:
                if not is_code(exc, *THROTTLES):
                    raise
                unprocessed = pending
            self.progress(len(pending) - len(unprocessed))
            if not unprocessed:
                break
            if time.monotonic() - started > self.give_up_after:
                raise AwsError(
                    f"{len(unprocessed)} items still unprocessed by {self.table} after "
                    f"{self.give_up_after:.0f}s; the target is partly written: rerun with --into-existing"
                )
            with self._lock:
                self.retried += len(unprocessed)
            attempt += 1
            self.sleep(random.uniform(0, min(5.0, 0.05 * 2**attempt)))
            pending = unprocessed
        return len(chunk)
