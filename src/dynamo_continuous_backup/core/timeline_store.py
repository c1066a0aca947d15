"""Where a table's timeline lives in S3, and reading it back (core/timeline.py is the model).

The facts are small write-once objects under PREFIX/@timelines/TABLE/: `begin/LABEL.json`
(a generation's start and its table's creation) and `end/LABEL.json` (when and why it ended),
written by the ensure function, which sees creations, deletions and stream changes. A base is
complete when its manifest (PREFIX/@snapshots/TABLE/RUN/manifest.json) is written; each base
writer then writes `bases/RUN/KIND,LABEL,START,END,ITEMS`, an empty fact whose name is the
base's summary, so one listing gives every base with no GET however long the history. A run
with a manifest and no fact (written before facts were, or its writer stopped in between) is
read from its manifest. Without facts, generations are derived from the stream labels the
bases name: a label is its stream's creation time, and a newer stream ends the one before.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import quote, unquote

from . import naming
from .aws import Clients
from .config import Config
from .errors import AwsNotFoundError, UnrestorableError
from .lateness import (
    Landed,
    bases_to_remove,
    contradicted,
    retention_cutoff,
    search_hours,
    seen_set,
    unseen_by,
)
from .records import iter_lines
from .timeline import LATE_SECONDS, Base, Timeline, Window, hour_partitions, iso, label_time

log = logging.getLogger(__name__)

LEGACY = ""  # the generation of bases and records written before either named its stream


def record_begin(clients: Clients, config: Config, table: str, stream_arn: str, created: float | None) -> bool:
    """Note that capture of `stream_arn` began (idempotent); True when it was new."""
    label = naming.stream_label(stream_arn)
    start = label_time(label)
    if not label or start is None:
        return False
    fact = {"streamLabel": label, "start": start, "created": created}
    return _put_once(clients, config, f"{naming.timelines_prefix(config.prefix, table)}begin/{label}.json", fact)


def record_end(clients: Clients, config: Config, table: str, stream: str, at: float, reason: str) -> bool:
    """Note that the generation of `stream` (an ARN or a label) ended at `at` (the first note
    stays). An end at or before the stream began is about an earlier generation: never written."""
    label = naming.stream_label(stream) if stream.startswith("arn:") else stream
    start = label_time(label)
    if not label or start is None:
        return False
    if at <= start:
        log.warning("table %s: no end at %s for stream %s, which began after it", table, at, label)
        return False
    fact = {"streamLabel": label, "end": at, "endedBy": reason}
    key = f"{naming.timelines_prefix(config.prefix, table)}end/{label}.json"
    return _put_once(clients, config, key, fact, replaces=lambda old: not _valid_end(old))


def open_labels(clients: Clients, config: Config, table: str) -> list[str]:
    """The stream labels of the generations begun and not (validly) ended."""
    prefix = naming.timelines_prefix(config.prefix, table)
    facts: dict[str, set[str]] = {"begin": set(), "end": set()}
    for key in _keys(clients, config.firehose_delivery_bucket, prefix):
        kind, _, name = key[len(prefix) :].partition("/")
        if kind in facts and name.endswith(".json"):
            facts[kind].add(name.removesuffix(".json"))
    ended = facts["end"] & facts["begin"]
    keys = [f"{prefix}end/{label}.json" for label in ended]
    # An end before its begin (written by an older version from a late event) ends nothing.
    valid = {
        f["streamLabel"] for f in _read_all(clients, config.firehose_delivery_bucket, keys).values() if _valid_end(f)
    }
    return sorted(facts["begin"] - valid)


def _valid_end(fact: dict[str, Any]) -> bool:
    start = label_time(str(fact.get("streamLabel", "")))
    return start is not None and float(fact.get("end", 0.0)) > start


def _put_once(
    clients: Clients,
    config: Config,
    key: str,
    fact: dict[str, Any],
    replaces: Callable[[dict[str, Any]], bool] | None = None,
) -> bool:
    """Write the fact unless one is there already (`replaces`: which existing facts are void)."""
    bucket = config.firehose_delivery_bucket
    try:
        if replaces is None:
            clients.s3.head_object(Bucket=bucket, Key=key)
            return False
        if not replaces(json.loads(clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())):
            return False
    except AwsNotFoundError:
        pass
    # Two writers racing here write facts that differ by moments; either is true enough.
    clients.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(fact).encode(), ContentType="application/json")
    return True


def read_timeline(clients: Clients, config: Config, table: str) -> Timeline:
    """The table's timeline from its facts, and the manifests of the bases that have no fact."""
    bucket = config.firehose_delivery_bucket
    keys = _keys(clients, bucket, naming.timelines_prefix(config.prefix, table))
    indexed = base_summaries(config, table, keys)
    marks = pruned_marks(keys)
    wanted = [k for k in keys if k not in marks and "/bases/" not in k and "/handoff/" not in k]  # handoff: status's
    facts = marks | _read_all(clients, bucket, wanted)
    # a removal cut short may leave a removed base's index name: never a base again
    removed = {str(r.get("runId")) for k, f in facts.items() if "/removed/" in k for r in f.get("runs", ())}
    indexed = {k: v for k, v in indexed.items() if v["runId"] not in removed}
    unindexed = [f"{run}manifest.json" for run in _run_folders(clients, config, table)]
    manifests = _read_all(
        clients,
        bucket,
        [k for k in unindexed if k not in indexed],
        modified="listedNewest",  # a checkpoint that noted no listing listed before its manifest was written
        missing_ok=True,
    )
    return build_timeline(table, facts, {**manifests, **indexed})


def base_fact_key(config: Config, table: str, manifest: dict[str, Any]) -> str | None:
    """Where a base's fact is: its summary (what the timeline needs of its manifest) is the name;
    None when the summary does not fit a name."""
    seen = [str(k) for k in manifest.get("listedSeen") or ()]
    fields = (
        str(manifest.get("kind", "scan")),
        _label_of(manifest),
        repr(float(manifest["startTime"])),
        repr(float(manifest["endTime"])),
        str(int(manifest.get("items", 0))),
        # what core/lateness.py needs of a checkpoint: the base it came from, its listing's newest
        str(manifest.get("from") or ""),
        repr(float(manifest["listedNewest"])) if manifest.get("listedNewest") is not None else "",
        "+".join(sorted(seen_set(seen))),  # digests, or ALL_SEEN (lateness.seen_set)
    )
    run = quote(str(manifest["runId"]), safe="")
    return f"{naming.timelines_prefix(config.prefix, table)}bases/{run}/" + ",".join(quote(f, safe=":") for f in fields)


def record_base(clients: Clients, config: Config, table: str, manifest: dict[str, Any]) -> None:
    """Index a base whose manifest is written (call it after the manifest, never before). Its
    name says everything and never changes, so writing it again is harmless."""
    key = base_fact_key(config, table, manifest)
    if key is not None:  # else readers read its manifest, as for a base written before the index
        clients.s3.put_object(Bucket=config.firehose_delivery_bucket, Key=key, Body=b"")


def base_summaries(config: Config, table: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Pure: the bases named by the fact keys among `keys`, as manifest-like summaries keyed by
    their manifests' keys (a fact whose name does not parse is skipped: its manifest is read)."""
    root = naming.timelines_prefix(config.prefix, table) + "bases/"
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        if not key.startswith(root):
            continue
        run, _, name = key[len(root) :].partition("/")
        fields = [unquote(f) for f in name.split(",")]
        try:
            kind, label, start, end, items, source, listed, seen = fields
            summary: dict[str, Any] = {"runId": unquote(run), "kind": kind, "streamLabel": label}
            summary.update(startTime=float(start), endTime=float(end), items=int(items), **{"from": source})
            if listed:
                summary["listedNewest"] = float(listed)
            summary["listedSeenDigests"] = seen.split("+") if seen else []
        except ValueError:
            log.warning("base fact %s has a name this version cannot read; reading its manifest", key)
            continue
        found[f"{naming.snapshots_prefix(config.prefix, table)}{summary['runId']}/manifest.json"] = summary
    return found


def pruned_marks(keys: list[str]) -> dict[str, dict[str, Any]]:
    """Pure: the retention facts (`pruned/SECONDS.json`, see prune_changes) read from their names,
    one a day with daily checkpoints, so a restore GETs none of them."""
    marks: dict[str, dict[str, Any]] = {}
    for key in keys:
        head, _, name = key.rpartition("/pruned/")
        if head and name.endswith(".json") and name[:-5].isdigit():
            marks[key] = {"before": float(name[:-5])}
    return marks


def _label_of(manifest: dict[str, Any]) -> str:
    return naming.stream_label(manifest.get("streamArn") or "") or str(manifest.get("streamLabel") or "")


def _run_folders(clients: Clients, config: Config, table: str) -> list[str]:
    """The table's run folders (PREFIX/@snapshots/TABLE/RUN/): one listing by folder, not by object."""
    runs: list[str] = []
    pages = clients.s3.get_paginator("list_objects_v2").paginate(
        Bucket=config.firehose_delivery_bucket, Prefix=naming.snapshots_prefix(config.prefix, table), Delimiter="/"
    )
    for page in pages:
        runs += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return runs


def read_trusted_timeline(clients: Clients, config: Config, table: str) -> Timeline:
    """read_timeline, with the checkpoints a late change contradicts marked untrusted (`trusted`)."""
    timeline = read_timeline(clients, config, table)
    for gen in timeline.generations:
        timeline = trusted(clients, config, timeline, gen.label)
    return timeline


def build_timeline(table: str, facts: dict[str, dict[str, Any]], manifests: dict[str, dict[str, Any]]) -> Timeline:
    """Pure: the timeline from fact objects and base manifests, keyed by their S3 keys."""
    pruned = max((float(f.get("before", 0.0)) for k, f in facts.items() if "/pruned/" in k), default=0.0)
    removed = [run for k, f in facts.items() if "/removed/" in k for run in f.get("runs", ())]
    gone = tuple(_base(str(r.get("manifest", "")), r) for r in removed)
    return replace(_generations(table, facts, manifests), pruned_before=pruned, removed=gone)


def _generations(table: str, facts: dict[str, dict[str, Any]], manifests: dict[str, dict[str, Any]]) -> Timeline:
    begins = {f["streamLabel"]: f for k, f in facts.items() if "/begin/" in k}
    ends = {f["streamLabel"]: f for k, f in facts.items() if "/end/" in k}
    labelled: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    unlabelled: list[tuple[str, dict[str, Any]]] = []
    for key, m in manifests.items():
        label = _label_of(m)
        (labelled.setdefault(label, []) if label else unlabelled).append((key, m))
    tl = Timeline(table)
    starts = {label: label_time(label) for label in {*begins, *labelled}}
    for label in sorted((x for x in starts if starts[x] is not None), key=lambda x: starts[x] or 0.0):
        begin = begins.get(label, {})
        tl = tl.begin(label, float(starts[label] or 0.0), begin.get("created"))
        if label in ends:  # before the next stream begins: a noted end is more exact than its start
            tl = tl.end(label, float(ends[label]["end"]), str(ends[label].get("endedBy", "")))
    for label, runs in labelled.items():
        for key, m in runs:
            tl = tl.with_base(label, _base(key, m))
    for key, m in unlabelled:  # older manifests: the generation their time falls in
        base = _base(key, m)
        gen = tl.generation_at(base.start)
        if gen is None:
            oldest = min((g.start for g in tl.generations), default=None)
            if oldest is not None and base.start >= oldest:
                continue  # in a gap between generations: it belongs to none we know
            tl = tl.with_base(LEGACY, base)
        else:
            tl = tl.with_base(gen.label, base)
    legacy = tl.generation(LEGACY)
    if legacy is None:
        return tl
    # Unnamed bases: since the beginning, up to where the first named stream begins.
    known = tuple(g for g in tl.generations if g.label != LEGACY)
    first = min((g.start for g in known), default=None)
    legacy = replace(legacy, start=0.0, end=first, ended_by="stream replaced" if first is not None else "")
    return Timeline(table, (legacy, *known))


def _base(key: str, m: dict[str, Any]) -> Base:
    listed = m.get("listedNewest") if m.get("kind") == "checkpoint" else None  # only a checkpoint listed
    return Base(
        str(m["runId"]),
        str(m.get("kind", "scan")),
        float(m["startTime"]),
        float(m["endTime"]),
        int(m.get("items", 0)),
        key,
        str(m.get("from") or ""),
        float(listed) if listed is not None else None,
        frozenset(m["listedSeenDigests"]) if "listedSeenDigests" in m else seen_set(m.get("listedSeen") or ()),
    )


def _keys(clients: Clients, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _read_all(
    clients: Clients, bucket: str, keys: list[str], modified: str = "", missing_ok: bool = False
) -> dict[str, dict[str, Any]]:
    """The JSON objects at `keys`; `modified`: a field that defaults to the object's LastModified;
    with `missing_ok`, only those that exist (a run still being written)."""

    def one(key: str) -> dict[str, Any] | None:
        try:
            got = clients.s3.get_object(Bucket=bucket, Key=key)
        except AwsNotFoundError:
            if missing_ok:
                return None
            raise
        body: dict[str, Any] = json.loads(got["Body"].read())
        if modified:
            body.setdefault(modified, got["LastModified"].timestamp())
        return body

    with ThreadPoolExecutor(8) as pool:
        return {k: v for k, v in zip(keys, pool.map(one, keys), strict=True) if v is not None}


def change_roots(clients: Clients, config: Config, table: str, tenant: str | None = None) -> list[str]:
    """The folders that hold a table's YYYY/MM/DD/HH/ hours: PREFIX/TABLE/ itself (the flat
    layout) when it has hours, and PREFIX/TABLE/tenant=V/ per tenant (the multi-tenant layout);
    with `tenant`, only the folders that can hold its changes (tenant_folders). One listing by
    folder, not by object."""
    prefix = naming.changes_prefix(config.prefix, table)
    flat = False
    tenants: list[str] = []
    pages = clients.s3.get_paginator("list_objects_v2").paginate(
        Bucket=config.firehose_delivery_bucket, Prefix=prefix, Delimiter="/"
    )
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            if common["Prefix"][len(prefix) :].startswith(naming.TENANT_SEGMENT):
                tenants.append(common["Prefix"])
            else:
                flat = True
    if tenant is not None:
        tenants = tenant_folders(config, table, tenant)
    return ([prefix] if flat else []) + tenants


def tenant_folders(config: Config, table: str, tenant: str) -> list[str]:
    """Where a tenant's changes can be, besides the flat layout (written before the table was
    partitioned): its folder, and NO_TENANT's, which also takes the oversize records' pointer
    lines (they carry no image, so only a key attribute names their tenant); readers filter."""
    return [naming.tenant_prefix(config.prefix, table, t) for t in dict.fromkeys((tenant, naming.NO_TENANT))]


def _hour_range(clients: Clients, bucket: str, root: str, first: str, last: str) -> list[dict[str, Any]]:
    """The objects of the hours `first`..`last` under `root`. Keys sort by time, so one listing
    that starts at the first hour and stops after the last reads no more than the range, however
    long the history (a flat root's tenant= folders sort after its hours: the stop skips them)."""
    end = root + last + "/\uffff"
    objects: list[dict[str, Any]] = []
    pages = clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root, StartAfter=root + first)
    for page in pages:
        contents = page.get("Contents", [])
        objects += [o for o in contents if o["Key"] <= end and o["Size"] > 0]
        if contents and contents[-1]["Key"] > end:
            break
    return objects


def list_changes(
    clients: Clients, config: Config, table: str, window: Window, tenant: str | None = None
) -> list[dict[str, Any]]:
    """The change objects of the window's hour partitions, in either layout (`tenant`: only that
    tenant's folder, plus any flat-layout hours)."""
    hours = window.hours()
    if not hours:
        return []
    roots = change_roots(clients, config, table, tenant)
    bucket = config.firehose_delivery_bucket
    with ThreadPoolExecutor(8) as pool:
        found = pool.map(lambda root: _hour_range(clients, bucket, root, hours[0], hours[-1]), roots)
        return [o for objects in found for o in objects]


def prune_changes(clients: Clients, config: Config, table: str, now: float) -> int:
    """Retention (`changeRetentionDays`): remove the change objects of the hours no base a time
    of the last `changeRetentionDays` uses needs (lateness.retention_cutoff), in every tenant's
    folder too, then the bases no such time uses (prune_bases). The fact that says so is written
    first, and a restore checks the facts again after it has read (check_not_pruned), so none
    misses an object without knowing. Returns the change objects removed."""
    days = config.change_retention_days
    if days <= 0:
        return 0
    timeline = read_trusted_timeline(clients, config, table)  # an untrusted checkpoint's fallback is kept
    if not any(g.bases for g in timeline.generations):
        return 0
    removed = _prune_change_objects(clients, config, table, timeline, now)
    prune_bases(clients, config, table, timeline, now)
    return removed


def _prune_change_objects(clients: Clients, config: Config, table: str, timeline: Timeline, now: float) -> int:
    days = config.change_retention_days
    cutoff = retention_cutoff(timeline, now, days)
    if cutoff <= timeline.pruned_before:
        return 0
    bucket = config.firehose_delivery_bucket
    fact = {"before": cutoff, "retentionDays": days}
    # One write-once fact per removal: racing writers can only add facts, never lower the mark.
    key = f"{naming.timelines_prefix(config.prefix, table)}pruned/{int(cutoff)}.json"
    clients.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(fact).encode(), ContentType="application/json")
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(cutoff))  # the first hour kept
    doomed: list[str] = []
    for root in change_roots(clients, config, table):
        last = root + hour
        for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
            keys = [o["Key"] for o in page.get("Contents", [])]
            doomed += [k for k in keys if k < last]
            if keys and keys[-1] >= last:
                break
    _delete(clients, bucket, doomed)
    log.info("table %s: %d change objects before %s removed (retention %d days)", table, len(doomed), hour, days)
    return len(doomed)


def prune_bases(clients: Clients, config: Config, table: str, timeline: Timeline, now: float) -> int:
    """Remove the bases no time of the last `changeRetentionDays` uses (lateness.bases_to_remove;
    `timeline` trusted). A write-once fact names them first (so a reader that meets a missing file
    knows why: check_base_kept), then their manifests go (no new reader picks them), then their
    run folders; a removed run whose files are still there (an interrupted removal) is finished.
    Returns the bases removed."""
    days = config.change_retention_days
    doomed = [b for _, b in bases_to_remove(timeline, now, days)]
    bucket = config.firehose_delivery_bucket
    if doomed:
        runs = [_base_fact(b) for b in doomed]
        digest = hashlib.sha256(" ".join(b.run_id for b in doomed).encode()).hexdigest()[:8]
        key = f"{naming.timelines_prefix(config.prefix, table)}removed/{int(now)}-{digest}.json"
        fact = {"retentionDays": days, "before": now - days * 86400, "runs": runs}
        clients.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(fact).encode(), ContentType="application/json")
        index = f"{naming.timelines_prefix(config.prefix, table)}bases/"
        named = {quote(b.run_id, safe="") for b in doomed}
        facts = [k for k in _keys(clients, bucket, index) if k[len(index) :].partition("/")[0] in named]
        _delete(clients, bucket, facts + [b.manifest for b in doomed])  # no new reader picks them
    # Folders of removed runs, this time's and any an interrupted removal left (never a base's).
    live = {b.run_id for g in timeline.generations for b in g.bases} - {b.run_id for b in doomed}
    gone = {b.run_id for b in (*doomed, *timeline.removed)} - live
    prefix = naming.snapshots_prefix(config.prefix, table)
    files: list[str] = []
    for folder in _folders(clients, bucket, prefix):
        if folder[len(prefix) :].rstrip("/") in gone:
            files += _keys(clients, bucket, folder)
    _delete(clients, bucket, files)
    if doomed:
        log.info("table %s: %d bases removed (retention %d days)", table, len(doomed), days)
    return len(doomed)


def _base_fact(base: Base) -> dict[str, Any]:
    return {
        "runId": base.run_id,
        "kind": base.kind,
        "startTime": base.start,
        "endTime": base.end,
        "manifest": base.manifest,
    }


def _folders(clients: Clients, bucket: str, prefix: str) -> list[str]:
    folders: list[str] = []
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return folders


def _delete(clients: Clients, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        clients.s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def check_base_kept(clients: Clients, config: Config, table: str, window: Window) -> None:
    """Refuse a state whose base retention removed after the timeline was read (a removal racing
    this restore): its files may be partly gone. Called when a base file is missing, and by
    engines that cannot tell a missing file (Athena reads a folder) after they have read."""
    if window.base is None:
        return
    try:
        clients.s3.head_object(Bucket=config.firehose_delivery_bucket, Key=window.base.manifest)
        return  # manifests go first: with it still there, none of its files has gone
    except AwsNotFoundError:
        pass
    bucket, prefix = config.firehose_delivery_bucket, f"{naming.timelines_prefix(config.prefix, table)}removed/"
    facts = _read_all(clients, bucket, _keys(clients, bucket, prefix)).values()
    run = window.base.run_id
    if any(r.get("runId") == run for f in facts for r in f.get("runs", ())):
        what = f"retention removed base {run} of {table} while this command read it"
    else:  # not ours: someone deleted it
        what = f"base {run} of {table} was deleted (its manifest is gone) while this command read it"
    raise UnrestorableError(f"{what}; run it again (it will use another base, or say the time is not restorable)")


def pruned_mark(clients: Clients, config: Config, table: str) -> float:
    """Before when retention has removed the table's change objects (0: never): from the pruned
    facts' keys alone (each is named by its cutoff)."""
    prefix = f"{naming.timelines_prefix(config.prefix, table)}pruned/"
    marks = [k[len(prefix) :].removesuffix(".json") for k in _keys(clients, config.firehose_delivery_bucket, prefix)]
    return max((float(m) for m in marks if m.isdigit()), default=0.0)


def check_not_pruned(clients: Clients, config: Config, table: str, window: Window) -> None:
    """Refuse a state whose changes retention began removing after the timeline was read (a prune
    racing this restore): its listing may have missed them. Called after listing and reading."""
    mark = pruned_mark(clients, config, table)
    if mark > window.since:
        raise UnrestorableError(
            f"retention removed the changes of {table} before {iso(mark)} while this command read them; "
            "run it again (it will use a newer base, or say the time is no longer restorable)"
        )


def trusted(clients: Clients, config: Config, timeline: Timeline, label: str) -> Timeline:
    """The timeline with the checkpoints of generation `label` a late change contradicts
    marked untrusted (lateness.contradicted): reads only the change objects written after a
    checkpoint listed, in the hours such a change can be in."""
    gen = timeline.generation(label)
    span = search_hours(gen, removed=timeline.removed) if gen is not None else None
    if gen is None or span is None:
        return timeline
    checkpoints = [b for b in gen.bases if b.kind == "checkpoint"]
    first = max(span[0], timeline.pruned_before)
    hours = hour_partitions(first, span[1])
    if not hours:
        return timeline
    bucket = config.firehose_delivery_bucket
    suspects = []
    for root in change_roots(clients, config, timeline.table):
        for o in _hour_range(clients, bucket, root, hours[0], hours[-1]):
            modified = o["LastModified"].timestamp()
            if any(unseen_by(c, modified, o["Key"]) for c in checkpoints):
                suspects.append((o["Key"], modified))
    landed = []
    for key, modified in suspects:
        body = clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for record in iter_lines(body):
            when = record.get("ApproximateCreationDateTime")
            mine = record.get("streamLabel") == gen.label or (
                record.get("streamLabel") is None and when is not None and gen.holds(when)
            )
            if mine and when is not None:
                landed.append(Landed(float(when), modified, key))
    bad = contradicted(gen, landed, removed=timeline.removed)
    for run_id in sorted(bad - timeline.untrusted):
        log.warning(
            "table %s: checkpoint %s is no longer trusted: a change older than it landed after it",
            timeline.table,
            run_id,
        )
    return timeline.distrust(bad)


def listing_note(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """What a checkpoint notes of the change objects it listed, so a later object is known:
    the newest LastModified (S3's clock) and the keys written at that instant."""
    times = [(o["LastModified"].timestamp(), o["Key"]) for o in objects if "LastModified" in o]
    if not times:
        return {}
    newest = max(t for t, _ in times)
    return {"listedNewest": newest, "listedSeen": sorted(k for t, k in times if t == newest)}


def checkpoint_prefix(config: Config, table: str, run_id: str) -> str:
    return f"{naming.snapshots_prefix(config.prefix, table)}{run_id}/"


def base_written(clients: Clients, config: Config, table: str, run_id: str) -> bool:
    """Whether the base `run_id` is complete (its manifest, written last, exists)."""
    try:
        clients.s3.head_object(
            Bucket=config.firehose_delivery_bucket, Key=checkpoint_prefix(config, table, run_id) + "manifest.json"
        )
    except AwsNotFoundError:
        return False
    return True


def write_checkpoint(
    clients: Clients,
    config: Config,
    table: str,
    window: Window,
    run_id: str,
    parts: list[bytes],
    items: int,
    now: float,
    late: float = LATE_SECONDS,
    listed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Upload a checkpoint as of `window.at` (gzip `{"Item": ...}` parts), then its manifest,
    last, which makes it a base; then apply `changeRetentionDays`. The checkpoint engines end
    here (restore/checkpoint.py, snapshot/checkpoint.py; athena/restore.py at finish_checkpoint).
    It claims completeness only from `at - late` on, so a change landing later is still read by
    the restores that use it."""
    bucket, prefix = config.firehose_delivery_bucket, checkpoint_prefix(config, table, run_id)
    files = []
    for n, body in enumerate(parts):
        key = f"{prefix}part-{n:05d}.ndjson.gz"
        etag = clients.s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
        files.append({"key": key, "size": len(body), "etag": etag, "sha256": hashlib.sha256(body).hexdigest()})
    return finish_checkpoint(clients, config, table, window, run_id, files, items, now, late, listed)


def finish_checkpoint(
    clients: Clients,
    config: Config,
    table: str,
    window: Window,
    run_id: str,
    files: list[dict[str, Any]],
    items: int,
    now: float,
    late: float = LATE_SECONDS,
    listed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the manifest of a checkpoint whose `files` (manifest entries) are in S3 under its
    run, which makes it a base; then apply `changeRetentionDays`. `listed`: listing_note of the
    change objects it folded (none noted: the manifest's own LastModified stands for it)."""
    assert window.base is not None
    bucket, prefix = config.firehose_delivery_bucket, checkpoint_prefix(config, table, run_id)
    base = json.loads(clients.s3.get_object(Bucket=bucket, Key=window.base.manifest)["Body"].read())
    manifest = {
        "runId": run_id,
        "table": table,
        "kind": "checkpoint",
        "streamArn": base.get("streamArn"),
        "streamLabel": window.generation.label,
        "startTime": max(window.at - late, window.base.start),
        "endTime": window.at,
        "items": items,
        "from": window.base.run_id,
        "files": files,
        **(listed or {}),
    }
    clients.s3.put_object(Bucket=bucket, Key=prefix + "manifest.json", Body=json.dumps(manifest).encode())
    record_base(clients, config, table, manifest)
    prune_changes(clients, config, table, now)
    return manifest


def newest_run_start(clients: Clients, config: Config, table: str) -> float | None:
    """When the table's newest base run began, from the run ids alone (they start with their
    UTC start time): one listing, no manifest read."""
    prefix = naming.snapshots_prefix(config.prefix, table)
    runs: list[str] = []
    pages = clients.s3.get_paginator("list_objects_v2").paginate(
        Bucket=config.firehose_delivery_bucket, Prefix=prefix, Delimiter="/"
    )
    for page in pages:
        runs += [p["Prefix"][len(prefix) :] for p in page.get("CommonPrefixes", [])]
    starts = []
    for run in runs:
        try:
            starts.append(calendar.timegm(time.strptime(run[:16], "%Y%m%dT%H%M%SZ")))
        except ValueError:
            continue  # not one of our run ids
    return float(max(starts)) if starts else None
