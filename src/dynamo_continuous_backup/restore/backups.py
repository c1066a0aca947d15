"""Where a table's backups are, and a local, incremental cache of them for DuckDB.

S3 layout (naming.py): changes under PREFIX/TABLE/YYYY/MM/DD/HH/ (or, in the multi-tenant
layout, PREFIX/TABLE/tenant=VALUE/YYYY/MM/DD/HH/: readers take both), snapshot runs under
PREFIX/@snapshots/TABLE/RUN/ (manifest.json written last: a run without it is incomplete),
the saved schema under PREFIX/@schemas/TABLE/schema.json.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import naming
from ..core.aws import Clients, read_object
from ..core.config import Config
from ..core.errors import AccessDeniedError, AwsNotFoundError, BackupError, NotFoundError
from ..core.records import loads
from ..core.schema import key_names as schema_key_names
from ..core.timeline import Timeline, Window
from ..core.timeline_store import (
    check_base_kept,
    check_not_pruned,
    list_changes,
    read_trusted_timeline,
    tenant_folders,
)

log = logging.getLogger(__name__)


def default_cache() -> Path:
    """`DCB_CACHE_DIR` (default `.dcb-cache`); `none`: a fresh folder removed when the command ends."""
    where = os.environ.get("DCB_CACHE_DIR", ".dcb-cache")
    if where.lower() != "none":
        return Path(where)
    folder = tempfile.mkdtemp(prefix="dcb-cache-")
    atexit.register(shutil.rmtree, folder, True)
    return Path(folder)


@dataclass(frozen=True)
class SnapshotRun:
    run_id: str
    start: float
    end: float
    items: int
    files: tuple[Path, ...] = ()
    kind: str = "scan"  # scan | export


@dataclass
class LocalBackups:
    """A table's backups as local files: what the state computation reads."""

    table: str
    change_files: list[Path] = field(default_factory=list)
    snapshots: list[SnapshotRun] = field(default_factory=list)
    schema: dict[str, Any] | None = None
    corrupt: list[str] = field(default_factory=list)
    window: Window | None = None  # None: every object of the table was read (no timeline known)
    listed: list[dict[str, Any]] = field(default_factory=list)  # the change objects listed (S3 metadata)

    @functools.cached_property
    def key_names(self) -> list[str]:
        if self.schema:
            return schema_key_names(self.schema)
        for path in self.change_files + [f for s in self.snapshots for f in s.files]:
            for rec in iter_file(path):
                return sorted(rec["Keys"])
        return []

    def earliest_restorable(self) -> float | None:
        """End of the first complete base (of the generation read): from then on every item is known."""
        if self.window is not None:
            return self.window.earliest
        return min((s.end for s in self.snapshots), default=None)


def iter_file(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for line in f:
            if line.strip():
                yield loads(line)


def check_bucket(clients: Clients, config: Config) -> None:
    """Fail early, in one line, when the backup bucket is missing or not the account's own."""
    bucket = config.firehose_delivery_bucket
    account = clients.sts.get_caller_identity()["Account"]
    try:
        clients.s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
    except AwsNotFoundError:
        raise NotFoundError(f"bucket {bucket} does not exist: run deploy.py, or fix firehoseDeliveryBucket") from None
    except AccessDeniedError:  # what S3 answers when ExpectedBucketOwner is not the bucket's owner
        raise NotFoundError(
            f"bucket {bucket} belongs to another account or denies access; choose another firehoseDeliveryBucket"
        ) from None


class BackupStore:
    """Lists and downloads one table's backups; downloads only what changed since last time."""

    def __init__(self, clients: Clients, config: Config, cache: Path | None = None) -> None:
        self.clients = clients
        self.config = config
        self.bucket = config.firehose_delivery_bucket
        self.root = (cache or default_cache()) / self.bucket
        self.fetched_bytes = 0  # downloaded from S3 by this store (benchmarks: bytes a restore reads)
        self._count = threading.Lock()

    def key_of(self, path: Path) -> str:
        """The S3 object a cached file came from, for messages."""
        name = path.relative_to(self.root).as_posix()
        return f"s3://{self.bucket}/" + name.removesuffix(".gz").removesuffix(".ndjson")

    def schema(self, table: str) -> dict[str, Any] | None:
        try:
            body = read_object(self.clients.s3, self.bucket, naming.schema_key(self.config.prefix, table))
        except AwsNotFoundError:  # read_object answers None for a missing key: the bucket is gone
            raise self._no_bucket() from None
        return None if body is None else json.loads(body)

    def _list(self, prefix: str, first: str = "", last: str = "") -> list[dict[str, Any]]:
        """Objects under `prefix`; with `first`/`last` (sub-prefixes, e.g. hour partitions) only
        those from `first` to `last`: keys sort by time, so one listing from `first` that stops
        after `last` reads no more than the range, however long the table's history."""
        objects: list[dict[str, Any]] = []
        extra = {"StartAfter": prefix + first} if first else {}
        end = prefix + last + "/\uffff" if last else None
        try:
            pages = self.clients.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, **extra
            )
            for page in pages:
                contents = page.get("Contents", [])
                objects += [o for o in contents if end is None or o["Key"] <= end]
                if end is not None and contents and contents[-1]["Key"] > end:
                    break
        except AwsNotFoundError:  # a listing finds only its bucket missing
            raise self._no_bucket() from None
        return objects

    def _no_bucket(self) -> NotFoundError:
        return NotFoundError(f"bucket {self.bucket} does not exist; check firehoseDeliveryBucket")

    def timeline(self, table: str) -> Timeline:
        """The table's timeline, with the checkpoints a late change contradicts set aside."""
        return read_trusted_timeline(self.clients, self.config, table)

    def window(
        self,
        table: str,
        at: float | None = None,
        from_start: bool = False,
        now: float | None = None,
        timeline: Timeline | None = None,
    ) -> Window | None:
        """What the state at `at` (None: the latest state) reads; None when the table has no
        timeline (backups older than timelines: then every object is read). `timeline`: one
        already read, to spare reading it again."""
        timeline = timeline or self.timeline(table)
        if not timeline.generations:
            return None
        now = time.time() if now is None else now
        return timeline.window(timeline.latest(now) if at is None else at, now, from_start)

    def key_info(self, table: str) -> LocalBackups:
        """Enough to read `--key` arguments (the key schema), without downloading backups."""
        schema = self.schema(table)
        return LocalBackups(table, schema=schema) if schema else self.sync(table)

    def sync(self, table: str, window: Window | None = None, tenant: str | None = None) -> LocalBackups:
        """Bring what a state needs into the cache: with a `window`, its base and the change
        objects of its hours only; without, every change object and complete snapshot run.
        `tenant`: of the multi-tenant layout's folders, that tenant's only (bases are whole)."""
        prefix = self.config.prefix
        backups = LocalBackups(table, schema=self.schema(table), window=window)
        if window is None:
            changes = self._list(naming.changes_prefix(prefix, table))
            if tenant is not None:  # the flat layout's objects and the tenant's folders
                mine = tuple(tenant_folders(self.config, table, tenant))
                other = naming.changes_prefix(prefix, table) + naming.TENANT_SEGMENT
                changes = [o for o in changes if o["Key"].startswith(mine) or not o["Key"].startswith(other)]
            manifests = [o["Key"] for o in self._list(naming.snapshots_prefix(prefix, table))]
            manifests = [k for k in manifests if k.endswith("/manifest.json")]
        else:
            try:
                changes = list_changes(self.clients, self.config, table, window, tenant)
            except AwsNotFoundError:  # a listing finds only its bucket missing
                raise self._no_bucket() from None
            manifests = [window.base.manifest] if window.base is not None else []
        changes = [o for o in changes if o["Size"] > 0]
        backups.listed = changes
        try:
            backups.change_files = self._download(changes)
        except AwsNotFoundError:  # an object listed is gone: retention removed it meanwhile?
            if window is not None:
                check_not_pruned(self.clients, self.config, table, window)
            raise
        if window is not None:  # a prune that began after the timeline was read: the listing may miss its hours
            check_not_pruned(self.clients, self.config, table, window)
        try:
            backups.snapshots += [self._base(key) for key in manifests]
        except AwsNotFoundError:  # a base file missing: retention removed the base meanwhile?
            if window is not None:  # never a partial base: refuse
                check_base_kept(self.clients, self.config, table, window)
            raise
        backups.snapshots.sort(key=lambda s: s.end)
        if window is None and not changes and not backups.snapshots and backups.schema is None:
            raise NotFoundError(
                f"no backups of table {table} in s3://{self.bucket}/{prefix}/; "
                "check the table name and firehoseDeliveryPrefix"
            )
        return backups

    def _base(self, key: str) -> SnapshotRun:
        """A base's files in the cache, from its manifest."""
        manifest = json.loads(self.clients.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        keys = [{"Key": f["key"], "Size": f.get("size", -1), "ETag": f.get("etag", "")} for f in manifest["files"]]
        return SnapshotRun(
            manifest["runId"],
            manifest["startTime"],
            manifest["endTime"],
            manifest["items"],
            tuple(self._download(keys)),
            manifest.get("kind", "scan"),
        )

    def _download(self, objects: list[dict[str, Any]]) -> list[Path]:
        index_path = self.root / ".index.json"
        index: dict[str, str] = json.loads(index_path.read_text()) if index_path.exists() else {}

        def one(obj: dict[str, Any]) -> Path:
            stamp = f"{obj.get('Size')}:{obj.get('ETag')}"
            base = self._cache_path(obj["Key"])
            for suffix in (".ndjson.gz", ".ndjson"):
                local = base.with_name(base.name + suffix)
                if local.exists() and index.get(obj["Key"]) == stamp and obj.get("Size", -1) != -1:
                    return local
            data = self.clients.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
            with self._count:
                self.fetched_bytes += len(data)
            local = base.with_name(base.name + (".ndjson.gz" if data[:2] == b"\x1f\x8b" else ".ndjson"))
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(local.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(local)  # never leave a half-written file where a complete one is expected
            index[obj["Key"]] = stamp
            return local

        with ThreadPoolExecutor(16) as pool:
            paths = list(pool.map(one, objects))
        self.root.mkdir(parents=True, exist_ok=True)
        index_path.write_text(json.dumps(index))
        return paths

    def _cache_path(self, key: str) -> Path:
        """Where an object is cached: always inside the cache root, one file per object key."""
        parts = key.split("/")
        # '..' or an absolute key would write outside the root; '.' or an empty segment would
        # make two object keys share one file (a/b and a//b).
        if any(part in ("", ".", "..") or "\x00" in part for part in parts):
            raise BackupError(
                f"backup object s3://{self.bucket}/{key} has an unsafe name (an empty, '.' or '..' path "
                "segment); it was not written by this tool: move it out of the backup prefix"
            )
        return self.root.joinpath(*parts)

    def image(self, image_text: str | None, pointer: str | None) -> dict[str, Any]:
        """An item image from a state row: inline, or from the full record an oversize pointer names."""
        if image_text:
            return loads(image_text)  # type: ignore[no-any-return]
        return self.fetch_record(pointer or "")["NewImage"]  # type: ignore[no-any-return]

    def fetch_record(self, key: str) -> dict[str, Any]:
        """The full record an oversize pointer line names."""
        body = self.clients.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return loads(body.strip().splitlines()[0])  # type: ignore[no-any-return]
