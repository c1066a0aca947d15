"""The relations the engine-neutral state query reads on Athena: the changes of a window's hour
partitions (pruned by partition projection) and one base's files, each a table made on demand
with Athena DDL (database, changes table, a table per base run)."""

from __future__ import annotations

import calendar
import json
import posixpath
from collections import defaultdict
from dataclasses import dataclass

from ..core import naming
from ..core.aws import Clients
from ..core.config import Config
from ..core.errors import BackupError
from ..core.timeline import Base
from ..explore.athena import COLUMNS, athena_name, base_ddl, base_table_name, changes_ddl
from .runner import AthenaRunner

# The backup record columns statesql's relations expose, from the tables' lower-case columns.
RECORD = (
    "Keys",
    "NewImage",
    "OldImage",
    "Item",
    "SequenceNumber",
    "eventName",
    "ApproximateCreationDateTime",
    "eventID",
    "oversizeS3Key",
    "streamLabel",
)
_COLUMN = {key: name for name, key, _ in COLUMNS}


def quote(value: str) -> str:
    """A SQL string literal (Athena/Trino: a quote is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _select_record() -> str:
    return ", ".join(f"{_COLUMN[k]} AS {k}" for k in RECORD)


def partition_filter(hours: list[str]) -> str:
    """A predicate on year/month/day/hour true for exactly these `YYYY/MM/DD/HH` partitions,
    whole days, months and years written once; each column is also bounded on its own, so
    partition projection enumerates few partitions (an unbounded query would exceed its limit)."""
    if not hours:
        return "false"
    tree: dict[str, dict[str, dict[str, set[str]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(set)))
    for h in hours:
        y, m, d, hh = h.split("/")
        tree[y][m][d].add(hh)
    terms: list[str] = []
    for y, months in sorted(tree.items()):
        year_terms: list[str] = []
        full_months = 0
        for m, days in sorted(months.items()):
            month_days = calendar.monthrange(int(y), int(m))[1]
            full = [d for d, hs in days.items() if len(hs) == 24]
            if len(full) == month_days:
                full_months += 1
                year_terms.append(f"month = '{m}'")
                continue
            parts = []
            if full:
                parts.append(f"day IN ({', '.join(quote(d) for d in sorted(full))})")
            for d, hs in sorted(days.items()):
                if len(hs) < 24:
                    parts.append(f"(day = '{d}' AND hour IN ({', '.join(quote(x) for x in sorted(hs))}))")
            year_terms.append(f"(month = '{m}' AND ({' OR '.join(parts)}))")
        if full_months == 12:
            terms.append(f"year = '{y}'")
        else:
            terms.append(f"(year = '{y}' AND ({' OR '.join(year_terms)}))")
    bounds = [
        f"year IN ({', '.join(quote(y) for y in sorted(tree))})",
        f"month IN ({', '.join(quote(m) for m in sorted({m for ms in tree.values() for m in ms}))})",
    ]
    return f"{' AND '.join(bounds)} AND ({' OR '.join(terms)})"


@dataclass
class Tables:
    """Makes (once per process) and names the engine's Athena tables of one backup config."""

    runner: AthenaRunner
    config: Config
    made: set[str] | None = None

    def _ensure(self, name: str, ddl: str, in_database: bool = True) -> None:
        self.made = self.made if self.made is not None else set()
        if name not in self.made:
            self.runner.run(ddl, f"create {name} if missing", in_database)
            self.made.add(name)

    def database(self) -> None:
        db = self.config.athena_database
        self._ensure(db, f"CREATE DATABASE IF NOT EXISTS {db}", in_database=False)

    def changes(self, table: str, hours: list[str]) -> str:
        """The change records of `hours` as a parenthesised subquery with the record columns."""
        self.database()
        name = f"{self.config.athena_database}.{athena_name(table)}_changes"
        self._ensure(name, changes_ddl(self.config, table, self.config.athena_database))
        return f"(SELECT {_select_record()} FROM {name} WHERE {partition_filter(hours)})"

    def base(self, clients: Clients, table: str, base: Base) -> str:
        """A base's rows as a parenthesised subquery: only the files its manifest lists (a run's
        folder also holds the manifest, and may hold an interrupted attempt's files)."""
        bucket = self.config.firehose_delivery_bucket
        manifest = json.loads(clients.s3.get_object(Bucket=bucket, Key=base.manifest)["Body"].read())
        keys = [f["key"] for f in manifest["files"]]
        folder = posixpath.dirname(base.manifest) + "/"
        if keys:  # exports keep their files in a subfolder: the table's location holds them all
            common = posixpath.commonpath(keys)
            folder = (common if common not in keys else posixpath.dirname(common)) + "/"
        self.database()
        name = f"{self.config.athena_database}.{base_table_name(table, base.run_id)}"
        self._ensure(name, base_ddl(table, base.run_id, f"s3://{bucket}/{folder}", self.config.athena_database))
        pages = clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
        listed = [o["Key"] for page in pages for o in page.get("Contents", [])]
        return f"(SELECT {_select_record()} FROM {name} WHERE {base_paths(bucket, keys, listed, base.run_id)})"


# Objects of a base's folder its manifest does not list but its patterns match (an interrupted
# attempt's parts) are excluded by name: at most this many, so the query stays far below
# Athena's 262,144-byte limit whatever the base's size.
MAX_EXCLUDED = 500
MAX_FOLDERS = 50  # our bases keep their files in one folder (an export: its data/)


def base_paths(bucket: str, keys: list[str], listed: list[str], run_id: str = "") -> str:
    """A predicate on "$path" true for exactly the manifest's `keys` among the `listed` objects
    of the base's folder, of bounded length: per folder one LIKE of the names' common prefix
    and suffix, minus the few listed objects it matches that the manifest does not list."""
    if not keys:
        return "false"
    folders: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        folders[posixpath.dirname(key)].append(posixpath.basename(key))
    patterns: list[tuple[str, str]] = []  # (what a key starts with, what it ends with)
    for folder, names in sorted(folders.items()):
        head = posixpath.commonprefix(names)
        tail = posixpath.commonprefix([n[::-1] for n in names])[::-1]
        tail = tail[max(0, len(head) + len(tail) - min(map(len, names))) :]  # never overlapping the head
        patterns.append((f"{folder}/{head}" if folder else head, tail))

    def matched(key: str) -> bool:
        return any(key.startswith(h) and key.endswith(t) and len(key) >= len(h) + len(t) for h, t in patterns)

    wanted = set(keys)
    extra = sorted(k for k in listed if k not in wanted and matched(k))
    if len(patterns) > MAX_FOLDERS or len(extra) > MAX_EXCLUDED:
        raise BackupError(
            f"base {run_id}: {len(patterns)} folders of files, and {len(extra)} objects its manifest does not list "
            f"(interrupted attempts?), are more than one Athena query can tell apart (at most {MAX_FOLDERS} and "
            f"{MAX_EXCLUDED}); use --engine duckdb, or write a new base"
        )
    terms = [f"\"$path\" LIKE {quote(_like(f's3://{bucket}/{h}') + '%' + _like(t))} ESCAPE '\\'" for h, t in patterns]
    text = f"({' OR '.join(terms)})"
    if extra:
        text += f' AND "$path" NOT IN ({", ".join(quote(f"s3://{bucket}/{k}") for k in extra)})'
    return text


def _like(text: str) -> str:
    """`text` as a literal part of a LIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def snapshot_attempt(config: Config, table: str, run_id: str, attempt: str) -> str:
    """A checkpoint attempt's folder inside its run: UNLOAD wants an empty folder of its own."""
    return f"{naming.snapshots_prefix(config.prefix, table)}{run_id}/athena-{attempt}/"
