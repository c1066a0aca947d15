"""The engine's shared steps: the window a state reads, its relations on Athena, the state query
(restore/statesql.py's, in the Athena dialect), and the SQL that writes a state to S3."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core import naming
from ..core.aws import Clients
from ..core.config import Config
from ..core.errors import NotFoundError, UserInputError
from ..core.records import dumps
from ..core.schema import key_names
from ..core.timeline import Timeline, Window
from ..core.timeline_store import change_roots
from ..restore.backups import BackupStore
from ..restore.statesql import state_select
from .runner import AthenaRunner, Results
from .tables import Tables, quote


@dataclass(frozen=True)
class State:
    """The state at `at` of one table as an Athena SELECT of rows (k, image, pointer)."""

    table: str
    window: Window
    sql: str


class AthenaEngine:
    """One backup config's Athena engine: the runner, the tables it made, the backup store."""

    def __init__(
        self,
        clients: Clients,
        config: Config,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients, self.config, self.sleep = clients, config, sleep
        self.runner = AthenaRunner(clients, config, sleep, clock)
        self.tables = Tables(self.runner, config)
        self.store = BackupStore(clients, config)

    def schema(self, table: str) -> dict[str, Any]:
        """The saved schema: the engine needs the key names before it reads anything."""
        schema = self.store.schema(table)
        if schema is None:
            raise NotFoundError(
                f"no saved schema of {table} in s3://{self.store.bucket}/{self.config.prefix}/@schemas/: "
                "the Athena engine needs its key schema; check the name, or use --engine duckdb"
            )
        return schema

    def window(
        self, table: str, at: float | None, from_start: bool = False, timeline: Timeline | None = None
    ) -> Window:
        """What the state at `at` (None: the latest) reads; refused when the table has no timeline."""
        window = self.store.window(table, at, from_start, timeline=timeline)
        flat = naming.changes_prefix(self.config.prefix, table)
        if any(root != flat for root in change_roots(self.clients, self.config, table)):
            # Its tables project PREFIX/TABLE/YYYY/...: tenant= folders would be silently missed.
            raise UserInputError(
                f"{table}'s changes are (partly) in the multi-tenant layout (tenant= folders), which the "
                "Athena engine does not read; use --engine duckdb"
            )
        if window is None:
            raise UserInputError(
                f"no timeline of {table} (backups older than timelines): the Athena engine reads one "
                "generation's window only; use --engine duckdb"
            )
        return window

    def state(
        self, table: str, schema: dict[str, Any], window: Window, at: float | None, where: str | None = None
    ) -> State:
        """Make the tables the window reads, and the state query over them (`where`: only the
        items that predicate matches, and every oversize pointer, tested once fetched)."""
        changes = self.tables.changes(table, window.hours())
        base = self.tables.base(self.clients, table, window.base) if window.base is not None else None
        sql = state_select("athena", changes, base, tuple(key_names(schema)), at, window, where=where)
        return State(table, window, sql)

    def counts(self, state: State) -> tuple[int, list[str]]:
        """How many items the state has, and the oversize pointers among them (their images are
        in S3 objects SQL cannot read, so they are written apart)."""
        found = self.runner.select(
            f"SELECT count(*) AS items, count(pointer) AS oversize FROM ({state.sql}) s", f"count {state.table}"
        )
        items, oversize = (int(v or 0) for v in found.rows[0]) if found.rows else (0, 0)
        pointers: list[str] = []
        if oversize:
            listed = self.runner.select(
                f"SELECT pointer FROM ({state.sql}) s WHERE pointer IS NOT NULL ORDER BY k",
                f"oversize items of {state.table}",
            )
            pointers = [p for (p,) in listed.rows if p]
        return items, pointers

    def unload(self, state: State, location: str) -> None:
        """Write the state's inline items under `location` as ImportTable input."""
        self.runner.run(unload_sql(state.sql, location), f"write the state of {state.table} to {location}")

    def oversize_images(self, pointers: list[str]) -> list[dict[str, Any]]:
        """The oversize items' full images, read from the records their pointers name."""
        return [self.store.image(None, p) for p in pointers]

    def put_oversize(self, prefix: str, images: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Oversize items' images as one more gzip file of `{"Item": ...}` lines under `prefix`;
        returns its manifest entry (None: none)."""
        if not images:
            return None
        lines = b"".join(dumps({"Item": image}) + b"\n" for image in images)
        body = gzip.compress(lines, compresslevel=3)
        key = f"{prefix}oversize-00000.json.gz"
        etag = self.clients.s3.put_object(Bucket=self.store.bucket, Key=key, Body=body)["ETag"]
        return {"key": key, "size": len(body), "etag": etag, "sha256": ""}

    def select(self, sql: str, what: str, limit: int | None = None) -> Results:
        return self.runner.select(sql, what, limit)


def lines_sql(state_sql: str) -> str:
    """The state's inline items as ImportTable's DYNAMODB_JSON lines: one `{"Item": {...}}` each."""
    return f"""SELECT '{{"Item":' || image || '}}' AS line FROM ({state_sql}) s WHERE pointer IS NULL"""


def unload_sql(state_sql: str, location: str) -> str:
    """UNLOAD of those lines, gzip. TEXTFILE writes the one text column as it is (JSON text holds
    no raw newline); format 'JSON' would wrap each line in an object of its own column."""
    return f"UNLOAD ({lines_sql(state_sql)})\nTO {quote(location)}\nWITH (format = 'TEXTFILE', compression = 'GZIP')"
