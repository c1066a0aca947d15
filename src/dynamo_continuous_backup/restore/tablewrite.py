"""Parallel BatchWriteItem: 25 requests per call, `threads` calls in flight, UnprocessedItems
retried with backoff until written; if they never are, fail loudly instead of dropping them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from ..core.aws import table_must_exist, wrap
from ..core.errors import AwsError
from ..core.retry import Backoff

BATCH = 25
# Unprocessed items are retried after up to 0.05 * 2**n s, at most 5 s: DynamoDB sheds load
# within seconds, and `give_up_after` bounds the whole.
WRITE_BACKOFF_BASE = 0.05
WRITE_BACKOFF_CAP = 5.0


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
        self.dynamodb, self.table, self.threads = wrap(dynamodb), table, threads  # typed errors, also for fakes
        self.backoff = Backoff(WRITE_BACKOFF_BASE, WRITE_BACKOFF_CAP, sleep)
        self.give_up_after = give_up_after
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
        pending, attempt = chunk, 0
        deadline = self.backoff.clock() + self.give_up_after
        while pending:
            try:
                with table_must_exist(self.table):
                    response = self.dynamodb.batch_write_item(RequestItems={self.table: pending})
                unprocessed = response.get("UnprocessedItems", {}).get(self.table, [])
            except AwsError as exc:
                if not exc.retryable:  # throttled, 5xx or network: the whole chunk is unprocessed
                    raise
                unprocessed = pending
            self.progress(len(pending) - len(unprocessed))
            if not unprocessed:
                break
            attempt += 1
            if not self.backoff.pause(attempt, deadline):
                raise AwsError(
                    f"{len(unprocessed)} items still unprocessed by {self.table} after "
                    f"{self.give_up_after:.0f}s; the target is partly written: rerun with --into-existing"
                )
            with self._lock:
                self.retried += len(unprocessed)
            pending = unprocessed
        return len(chunk)
