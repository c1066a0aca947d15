"""`verify`: does the backup say what the live table holds? Counts items missing from the
backups, extra in them and differing, names a few. Differences are re-checked once after the
delivery interval, so changes still in flight are not reported as gaps."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.aws import Clients, table_must_exist
from ..core.records import json_form, wire_form
from .backups import BackupStore, LocalBackups
from .keys import key_text, parse_key_text, readable_key
from .state import item_digest
from .statequery import connect, iter_state


@dataclass
class VerifyResult:
    table: str
    live_items: int = 0
    backed_up_items: int = 0
    # Keys in readable form (keys.readable_key), for people:
    missing: list[str] = field(default_factory=list)  # in the table, not in the backups
    extra: list[str] = field(default_factory=list)  # in the backups, not in the table
    differing: list[str] = field(default_factory=list)
    resolved_in_flight: int = 0
    sampled: bool = False

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.differing)


class Verifier:
    def __init__(self, clients: Clients, store: BackupStore, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clients, self.store, self.sleep = clients, store, sleep

    def verify(self, table: str, sample: int | None = None, recheck_after: float | None = None) -> VerifyResult:
        result = VerifyResult(table, sampled=sample is not None)
        with table_must_exist(table):
            self.clients.dynamodb.describe_table(TableName=table)
        backups = self.store.sync(table, self.store.window(table, from_start=True))
        names = backups.key_names
        state = self._state(backups)
        live = self._live_sample(table, names, sample) if sample else self._live_all(table, names)
        if sample:  # also look up a sample of what the backups hold, to find extras
            for k in random.sample(sorted(state), min(sample, len(state))):
                if k not in live:
                    live[k] = self._get(table, state[k][1], names)
        result.live_items = sum(1 for v in live.values() if v is not None)
        result.backed_up_items = len(state)
        suspects = self._compare(live, state, sample is not None)
        if suspects and recheck_after is None:
            recheck_after = self.store.config.firehose_delivery_interval_seconds + 5
        if suspects:
            self.sleep(recheck_after or 0)  # let in-flight changes land, then look again at the suspects
            state = self._state(self.store.sync(table, self.store.window(table, from_start=True)))
            again = {k: self._get(table, (state.get(k) or (0, parse_key_text(k, names)))[1], names) for k in suspects}
            remaining = self._compare(again, state, True)
            result.resolved_in_flight = len(suspects) - len(remaining)
            for k in remaining:
                kind = "missing" if k not in state else "extra" if again[k] is None else "differing"
                getattr(result, kind).append(readable_key(k, names))
        return result

    def _state(self, backups: LocalBackups) -> dict[str, tuple[int, dict[str, Any]]]:
        out = {}
        for k, image_text, pointer in iter_state(connect(), backups, None):
            image = self.store.image(image_text, pointer)
            out[k] = (item_digest(image), {n: image[n] for n in backups.key_names})
        return out

    def _live_all(self, table: str, names: list[str]) -> dict[str, int | None]:
        live: dict[str, int | None] = {}
        for page in self.clients.dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                image = json_form(item)
                live[key_text(image, names)] = item_digest(image)
        return live

    def _live_sample(self, table: str, names: list[str], n: int) -> dict[str, int | None]:
        segments = 16
        live: dict[str, int | None] = {}
        for segment in random.sample(range(segments), segments):
            page = self.clients.dynamodb.scan(TableName=table, Segment=segment, TotalSegments=segments, Limit=n)
            for item in page["Items"]:
                image = json_form(item)
                live[key_text(image, names)] = item_digest(image)
            if len(live) >= n:
                break
        return dict(list(live.items())[:n])

    def _get(self, table: str, key: dict[str, Any], names: list[str]) -> int | None:
        item = self.clients.dynamodb.get_item(TableName=table, Key=wire_form(key), ConsistentRead=True).get("Item")
        return item_digest(json_form(item)) if item else None

    @staticmethod
    def _compare(live: dict[str, int | None], state: dict[str, tuple[int, dict[str, Any]]], partial: bool) -> list[str]:
        keys = set(live) if partial else set(live) | set(state)
        return sorted(k for k in keys if live.get(k) != (state[k][0] if k in state else None))
