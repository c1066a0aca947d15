"""Many tables at once: listing tables and our delivery streams, bounded-concurrency fan-out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..core import naming
from ..core.aws import Clients
from ..core.errors import BackupError
from .provisioner import Result

T = TypeVar("T")

log = logging.getLogger(__name__)


def list_tables(clients: Clients) -> list[str]:
    tables: list[str] = []
    for page in clients.dynamodb.get_paginator("list_tables").paginate():
        tables += page["TableNames"]
    return tables


def delivery_stream_names(clients: Clients) -> list[str]:
    """Every delivery stream of the region, ours or not (they share one quota)."""
    names: list[str] = []
    start: dict[str, Any] = {}
    while True:  # ListDeliveryStreams has no paginator; it ends when HasMore is false
        page = clients.firehose.list_delivery_streams(Limit=100, **start)
        names += page["DeliveryStreamNames"]
        if not page.get("HasMoreDeliveryStreams") or not page["DeliveryStreamNames"]:
            break
        start = {"ExclusiveStartDeliveryStreamName": page["DeliveryStreamNames"][-1]}
    return names


def owned_delivery_streams(clients: Clients) -> dict[str, str]:
    """Delivery stream name -> full table name, for every delivery stream tagged as ours."""
    owned = {}
    for name in delivery_stream_names(clients):
        tags = clients.firehose.list_tags_for_delivery_stream(DeliveryStreamName=name).get("Tags", [])
        table = naming.owned_table(tags)
        if table:
            owned[name] = table
    return owned


def run_many(func: Callable[[str], Result], tables: Iterable[str], concurrency: int = 8) -> Iterator[Result]:
    """Apply `func` to each table with bounded concurrency; an error becomes a failed Result."""

    def one(table: str) -> Result:
        try:
            return func(table)
        except BackupError as exc:
            log.debug("table %s failed", table, exc_info=True)  # tracebacks only with --debug
            return Result(table, "failed", reason=str(exc))
        except Exception as exc:  # anything else (a bug) fails this table only, never the other tables
            log.debug("table %s failed", table, exc_info=True)
            return Result(table, "failed", reason=f"{type(exc).__name__}: {exc}")

    yield from parallel_map(one, tables, concurrency)


def parallel_map(func: Callable[[str], T], items: Iterable[str], concurrency: int = 8) -> Iterator[T]:
    """`map` over a bounded thread pool, results in input order."""
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        yield from pool.map(func, items)


def select_tables(clients: Clients, provision_all: bool, names: Iterable[str]) -> list[str]:
    """Explicit names first, then (with provisionAll) every other table in the account."""
    chosen = list(dict.fromkeys(names))
    if provision_all:
        chosen += [t for t in list_tables(clients) if t not in set(chosen)]
    return chosen
