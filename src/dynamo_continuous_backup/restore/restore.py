"""Restore a table to any second: state at T from snapshots + changes (DuckDB), written into a
new table (or, explicitly, an existing one), then verified by count and content checksum."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ..core import naming
from ..core.aws import Clients
from ..core.errors import AwsNotFoundError, BackupError, NotFoundError, UserInputError
from ..core.records import dumps, json_form, wire_form
from ..core.retry import wait_until
from ..core.schema import table_args
from ..core.timeline import iso_up
from .backups import BackupStore, LocalBackups
from .importer import check_importable, import_state
from .keys import key_text, readable_key
from .state import iso, item_digest, parse_time, table_checksum
from .statequery import (
    CorruptBackupError,
    check_times,
    connect,
    find_corrupt,
    iter_state,
    key_found,
    present_at,
)
from .tablewrite import BatchWriter
from .where import Predicate, matches, parse_where

log = logging.getLogger(__name__)

# key text -> (content digest, key image, inside --where) of what the target holds
Existing = dict[str, tuple[int, dict[str, Any], bool]]
Rows = Iterator[tuple[str, str | None, str | None]]
# A new table becomes ACTIVE within seconds; poll every 2 s for at most 5 minutes.
ACTIVE_POLL = 2.0
ACTIVE_TIMEOUT = 300.0


@dataclass
class RestoreResult:
    table: str
    target: str
    at: float
    earliest: float | None
    items: int = 0
    puts: int = 0
    deletes: int = 0
    # target items in the slice now (--where/--tenant) but not at T that existed at T: never deleted
    untouched: int = 0
    checksum: str = ""
    verified: bool = False
    dry_run: bool = False
    corrupt: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)


@dataclass
class RestoreOptions:
    at: str | None = None
    into_existing: bool = False
    dry_run: bool = False
    keys: dict[str, Any] | None = None  # one item's key, typed
    allow_corrupt: bool = False
    from_start: bool = False
    via_import: bool = False
    threads: int = 8
    where: str | None = None  # a --where predicate: only the items it matches
    tenant: str | None = None  # only the items of this tenant at T (docs/s3-format.md, Multi-tenant layout)


class Restorer:
    def __init__(
        self,
        target: Clients,
        store: BackupStore,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.target, self.store, self.sleep = target, store, sleep
        self.progress = progress or (lambda n: None)
        self._tenant: tuple[str, str] | None = None  # (attribute, value) of a tenant-scoped restore

    def restore(self, table: str, target: str, opts: RestoreOptions) -> RestoreResult:
        now = time.time()
        at = parse_time(opts.at, now)  # a malformed time fails before any download
        predicate = parse_where(opts.where) if opts.where is not None else None  # so does a bad --where
        if at > now + 1:  # a state in the future is not known yet: never report one as restored
            raise UserInputError(f"--at {iso(at)} is in the future; omit --at for the latest state")
        timeline = self.store.timeline(table)
        window = self.store.window(table, at if opts.at is not None else None, opts.from_start, timeline=timeline)
        at = window.at if window is not None else at  # the latest state of a deleted table: its last moment
        self._tenant = self._tenant_scope(opts.tenant)
        # the base and the changes since it, of every tenant's folder even for --tenant: a change
        # that moves an item to another tenant is filed under that tenant only
        backups = self.store.sync(table, window)
        notes: list[str] = []
        if window is not None:
            spans = timeline.restorable()
            if len(spans) > 1:  # say where the gaps are: times between these spans are refused
                shown = "; ".join(f"{iso(lo)} to {iso(hi) if hi is not None else 'now'}" for lo, hi in spans)
                gaps = len(spans) - 1
                notes = [f"restorable times of {table}: {shown} ({gaps} unrestorable stretch(es) between)"]
        if opts.via_import:
            check_importable(backups)  # before the state is computed or anything uploaded
        result = RestoreResult(table, target, at, backups.earliest_restorable(), dry_run=opts.dry_run)
        result.notes += notes
        self._check_time(backups, result, opts)
        con = connect()
        if opts.at is not None:
            check_times(con, backups)
        rows = self._state_rows(con, backups, result, opts)  # a corrupt backup fails here, before any write
        if predicate is not None:
            rows = self._matching(rows, predicate)
        existing = self._prepare_target(backups, target, opts, result, predicate)
        if existing is None and not opts.dry_run and opts.via_import:
            return self._via_import(backups, target, rows, result)
        sliced = predicate is not None or self._tenant is not None
        at_t = result.at if opts.at is not None else None
        slice_ = Slice(lambda keys: present_at(con, backups, at_t, keys)) if sliced else None
        requests = self._requests(rows, existing, result, backups.key_names, slice_)
        if opts.dry_run:
            for _ in requests:
                pass
            return result
        writer = BatchWriter(self.target.dynamodb, target, opts.threads, self.sleep, progress=self.progress)
        writer.write(requests)
        if opts.keys is None:
            self._verify(target, result, predicate, slice_, backups.key_names)
        else:
            item = self.target.dynamodb.get_item(TableName=target, Key=wire_form(opts.keys)).get("Item")
            images = [json_form(item)] if item else []
            self._check(images, result, predicate, slice_, backups.key_names)
        return result

    def _tenant_scope(self, tenant: str | None) -> tuple[str, str] | None:
        if tenant is None:
            return None
        attribute = self.store.config.tenant_attribute
        if not attribute:
            raise UserInputError("--tenant needs the multi-tenant layout: set tenantAttribute in the config")
        check_tenant(tenant)
        return attribute, tenant

    def _mine(self, image: dict[str, Any]) -> bool:
        """Whether an item belongs in this restore (every item, unless it is tenant-scoped)."""
        return self._tenant is None or naming.tenant_of(image, self._tenant[0]) == self._tenant[1]

    def _matching(self, rows: Rows, predicate: Predicate) -> Rows:
        """The rows --where keeps: SQL tested the inline images; an oversize item's image is
        only in the full record its pointer names, so it is fetched and tested here."""
        for key, image_text, pointer in rows:
            if pointer is None:
                yield key, image_text, pointer
                continue
            image = self.store.image(None, pointer)
            if matches(predicate, image):
                yield key, dumps(image).decode(), None

    def _check_time(self, backups: LocalBackups, result: RestoreResult, opts: RestoreOptions) -> None:
        if result.earliest is None:
            if not opts.from_start:
                raise UserInputError(
                    f"no complete snapshot of {backups.table}, so no restorable time is known: run "
                    f"`dynamo-backup backfill {backups.table}`, or pass --from-start if the backups cover the "
                    "table since it was created"
                )
            result.notes.append("no snapshot: restoring from the change records alone (--from-start)")
        elif result.at < result.earliest:
            raise UserInputError(
                f"--at {iso(result.at)} is before the earliest restorable time "
                f"{iso_up(result.earliest)}; choose a later time"
            )

    def _state_rows(self, con: Any, backups: LocalBackups, result: RestoreResult, opts: RestoreOptions) -> Rows:
        at = result.at if opts.at is not None else None
        only = key_text(opts.keys, backups.key_names) if opts.keys is not None else None  # one item's state only
        rows = self._rows(con, backups, at, result, opts, only)
        # A key no backup holds is a typo, not an item to delete: never report it "verified".
        if only is not None and not key_found(backups, only):
            raise UserInputError(
                f"--key {readable_key(only, backups.key_names)}: no such item in the backups of "
                f"{backups.table}; check the key"
            )
        return rows

    def _rows(
        self,
        con: Any,
        backups: LocalBackups,
        at: float | None,
        result: RestoreResult,
        opts: RestoreOptions,
        only: str | None,
    ) -> Rows:
        try:
            return iter_state(con, backups, at, only=only, where=opts.where)
        except CorruptBackupError as exc:
            bad = find_corrupt(backups.change_files + [f for s in backups.snapshots for f in s.files])
            names = [self.store.key_of(p) for p in bad] or [str(exc)]
            for name in names:
                log.warning("corrupt backup object skipped: %s", name)
            result.corrupt = names
            if not opts.allow_corrupt:
                raise BackupError(
                    f"{len(names)} corrupt backup object(s), e.g. {names[0]}; "
                    "rerun with --allow-corrupt to restore without them"
                ) from None
            backups.change_files = [f for f in backups.change_files if f not in bad]
            backups.snapshots = [replace(s, files=tuple(f for f in s.files if f not in bad)) for s in backups.snapshots]
            return iter_state(con, backups, at, only=only, where=opts.where)

    def _prepare_target(
        self,
        backups: LocalBackups,
        target: str,
        opts: RestoreOptions,
        result: RestoreResult,
        predicate: Predicate | None = None,
    ) -> Existing | None:
        """Create the target from the saved schema, or (explicitly) read what an existing one holds."""
        try:
            desc = self.target.dynamodb.describe_table(TableName=target)["Table"]
        except AwsNotFoundError:  # the usual case: restore creates a new table
            desc = None
        if desc is not None:
            empty = not self.target.dynamodb.scan(TableName=target, Limit=1, Select="COUNT").get("Count")
            if not empty and not opts.into_existing:
                raise UserInputError(
                    f"target table {target} exists and is not empty; choose a new --to, "
                    "or pass --into-existing to change it to the restored state"
                )
            names = backups.key_names
            if opts.keys is not None:  # one item: never look at, or touch, any other
                return self._existing_digests(target, names, opts.keys, predicate)
            return self._existing_digests(target, names, None, predicate) if opts.into_existing or not empty else {}
        if backups.schema is None:
            raise NotFoundError(
                f"no saved schema of {backups.table}, so {target} cannot be created; "
                "create it yourself and pass --into-existing"
            )
        if opts.dry_run:
            result.notes.append(f"would create {target} from the saved schema")
            return None
        if not opts.via_import:
            self._create_table(backups.schema, target, result)
        return None

    def _create_table(self, schema: dict[str, Any], target: str, result: RestoreResult) -> None:
        args = table_args(schema, target)
        self.target.dynamodb.create_table(**args)
        what = f"table {target} to become ACTIVE"
        wait_until(lambda: self._active(target), what, ACTIVE_TIMEOUT, ACTIVE_POLL, self.sleep)
        self.apply_ttl(schema, target, result)
        if (schema.get("StreamSpecification") or {}).get("StreamEnabled"):
            result.notes.append(
                "the source had a stream; the ensure function enables ours on the new table if it "
                "is opted in (other view types: enable them yourself)"
            )

    def _active(self, table: str) -> bool:
        try:
            return bool(self.target.dynamodb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE")
        except AwsNotFoundError:  # DescribeTable may not see a table just created yet
            return False

    def apply_ttl(self, schema: dict[str, Any], target: str, result: RestoreResult) -> None:
        """Re-apply the source's TTL setting, which CreateTable and ImportTable cannot carry."""
        ttl = schema.get("TimeToLiveDescription") or {}
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName"):
            self.target.dynamodb.update_time_to_live(
                TableName=target, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
            )
            result.notes.append(f"TTL re-applied on attribute {ttl['AttributeName']}")

    def _existing_digests(
        self, target: str, key_names: list[str], only: dict[str, Any] | None = None, predicate: Predicate | None = None
    ) -> Existing:
        """Key text -> (content digest, key image, inside --where) of what the target holds now."""
        if only is not None:
            item = self.target.dynamodb.get_item(TableName=target, Key=wire_form(only)).get("Item")
            items: Iterator[dict[str, Any]] = iter([item] if item else [])
        else:
            items = (
                i
                for page in self.target.dynamodb.get_paginator("scan").paginate(TableName=target)
                for i in page["Items"]
            )
        found = {}
        for item in items:
            image = json_form(item)
            # another tenant's item, or one outside --where, is never overwritten or deleted
            inside = self._mine(image) and (predicate is None or matches(predicate, image))
            found[key_text(image, key_names)] = (item_digest(image), {k: image[k] for k in key_names}, inside)
        return found

    def _requests(
        self,
        rows: Rows,
        existing: Existing | None,
        result: RestoreResult,
        names: list[str],
        slice_: Slice | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Puts of the state's items (of the slice at T), then deletes of the target's items that
        are not in it: with a slice, only those in it now that did not exist at T (Slice)."""
        existing = dict(existing or {})
        digests: list[int] = []
        for key, image_text, pointer in rows:
            image = self.store.image(image_text, pointer)
            if not self._mine(image):
                continue
            held = existing.pop(key, None)
            if slice_ is not None:
                slice_.keys.add(key)
            digest = item_digest(image)
            digests.append(digest)
            result.items += 1
            if held is not None and held[0] == digest:
                continue
            result.puts += 1
            if len(result.sample) < 5:
                result.sample.append(f"put {readable_key(key, names)}")
            yield {"PutRequest": {"Item": wire_form(image)}}
        result.checksum = table_checksum(digests)
        doomed = {key: key_image for key, (_, key_image, inside) in existing.items() if inside}
        if slice_ is not None and doomed:  # an item that existed at T outside the slice is never deleted
            slice_.kept = slice_.existed(sorted(doomed))
            result.untouched = len(slice_.kept)
            for key in sorted(slice_.kept)[:5]:
                result.sample.append(f"kept {readable_key(key, names)} (in the slice now, outside it at T)")
        for key, key_image in doomed.items():  # in the target's slice now, absent at T
            if slice_ is not None and key in slice_.kept:
                continue
            result.deletes += 1
            if len(result.sample) < 10:
                result.sample.append(f"delete {readable_key(key, names)}")
            yield {"DeleteRequest": {"Key": wire_form(key_image)}}

    def _verify(
        self,
        target: str,
        result: RestoreResult,
        predicate: Predicate | None = None,
        slice_: Slice | None = None,
        names: list[str] | None = None,
    ) -> None:
        """The target holds exactly the state (a slice: see _check); raises when it does not."""
        pages = self.target.dynamodb.get_paginator("scan").paginate(TableName=target)
        images = (json_form(item) for page in pages for item in page["Items"])
        wrong = self._check(images, result, predicate, slice_, names or [])
        if wrong:
            raise BackupError(f"verification failed: {target} {wrong}")

    def _check(
        self,
        images: Iterable[dict[str, Any]],
        result: RestoreResult,
        predicate: Predicate | None,
        slice_: Slice | None,
        names: list[str],
    ) -> str | None:
        """Why these target items do not hold the state (None: they do, and result.verified is
        set): every item, or of a slice every item of the slice at T (count and checksum) and no
        item in the slice now that was absent at T."""
        digests, strays = [], 0
        for image in images:
            if slice_ is None:
                digests.append(item_digest(image))
                continue
            key = key_text(image, names)
            if key in slice_.keys:
                digests.append(item_digest(image))
            elif self._mine(image) and (predicate is None or matches(predicate, image)) and key not in slice_.kept:
                strays += 1  # in the slice now, absent at T: should have been deleted
        result.verified = (len(digests), table_checksum(digests), strays) == (result.items, result.checksum, 0)
        if result.verified:
            return None
        return (
            f"holds {len(digests)} items (checksum {table_checksum(digests)})"
            + (f" and {strays} that should have been deleted" if strays else "")
            + f", the state at {iso(result.at)} has {result.items} (checksum {result.checksum})"
        )

    def _via_import(
        self,
        backups: LocalBackups,
        target: str,
        rows: Rows,
        result: RestoreResult,
    ) -> RestoreResult:
        assert backups.schema is not None
        done = import_state(self.target, self.store, backups.schema, target, rows, self.sleep)
        result.items, result.puts, result.checksum = done.items, done.items, done.checksum
        result.notes.append(done.note)
        self.apply_ttl(backups.schema, target, result)
        self._verify(target, result)
        return result


def check_tenant(tenant: str) -> None:
    """Refuse a --tenant value that names no one tenant: empty, reserved, or one the layout
    files under BAD_TENANT (docs/s3-format.md, Multi-tenant layout)."""
    if tenant in (naming.NO_TENANT, naming.BAD_TENANT):
        raise UserInputError(
            f"--tenant {tenant}: a reserved folder name (items without a tenant, or with unsafe values), not a "
            "tenant; restore the whole table, or use --where on the tenant attribute"
        )
    if naming.tenant_of({"t": {"S": tenant}}, "t") != tenant:  # as the JQ query would file it
        what = "is empty" if not tenant else "is no safe key segment (1-128 of A-Z a-z 0-9 _ . -)"
        raise UserInputError(
            f"--tenant {tenant!r} {what}; give a tenant's value, or restore the whole table with --where"
        )


@dataclass
class Slice:
    """A --where/--tenant restore's slice (DESIGN.md section 11): the keys of the state's items
    in the slice at T (written), and the target's items in the slice now that existed at T
    outside it (kept: never deleted). `existed` answers which of some keys existed at T."""

    existed: Callable[[list[str]], set[str]]
    keys: set[str] = field(default_factory=set)
    kept: set[str] = field(default_factory=set)
