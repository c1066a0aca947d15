"""Pure decisions about late changes and retention (DESIGN.md section 11), over a timeline.

A checkpoint as of T folds the changes it listed; restores over it re-read only the changes
after its start (minus the margin). A change made before that start whose object reached S3
after the checkpoint listed (later than LATE_SECONDS allows) is in neither: that checkpoint,
and every one computed from it, is contradicted and no longer used (`contradicted`).
Retention removes only the hours no base inside the promised window needs (`retention_cutoff`),
and only the bases no time of that window uses (`bases_to_remove`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from .timeline import (
    FIREHOSE_BUFFER_SECONDS,
    LATE_SECONDS,
    MARGIN_SECONDS,
    STREAM_RETENTION_SECONDS,
    Base,
    Generation,
    Timeline,
)

HOUR = 3600.0


@dataclass(frozen=True)
class Landed:
    """One change record as S3 holds it: when it was made, and its object's key and LastModified."""

    when: float
    modified: float
    key: str


def unseen_by(checkpoint: Base, modified: float, key: str) -> bool:
    """Whether an object written at `modified` can have been missed by the checkpoint's listing:
    written at or after the newest object it saw (one S3 clock), and not one it saw."""
    if checkpoint.listed is None:
        return True  # a checkpoint that noted nothing: every object is suspect
    seen = checkpoint.seen
    return modified > checkpoint.listed or (
        modified == checkpoint.listed and ALL_SEEN not in seen and seen_digest(key) not in seen
    )


# A checkpoint whose listing saw too many objects in its newest second for the base index to name
# them: all of that second count as seen. A change 48 h late landing in that very second, after
# the listing, is the one case this cannot see.
ALL_SEEN = "*"
MAX_SEEN = 40  # 13 bytes each in an index name: well under S3's 1,024-byte key limit


def seen_set(keys: Iterable[str]) -> frozenset[str]:
    """What a checkpoint keeps of the objects its listing saw in its newest second: their digests,
    or ALL_SEEN past MAX_SEEN (the same from its manifest as from its index name)."""
    digests = frozenset(seen_digest(k) for k in keys)
    return digests if len(digests) <= MAX_SEEN else frozenset({ALL_SEEN})


def seen_digest(key: str) -> str:
    """A short stand-in for an object key: a checkpoint's `seen` holds these, so the base index
    can name them (timeline_store.base_fact_key)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def search_hours(
    generation: Generation, margin: float = MARGIN_SECONDS, removed: Iterable[Base] = ()
) -> tuple[float, float] | None:
    """The times of the hour partitions a contradicting change can be in: from the oldest
    checkpoint's source's start, to where the stream can have delivered a change made before
    the newest checkpoint's start (the stream keeps records 24 h); None without checkpoints."""
    checkpoints = [b for b in generation.bases if b.kind == "checkpoint"]
    if not checkpoints:
        return None
    sources = {b.run_id: b for b in (*removed, *generation.bases)}
    floors = [sources[c.source].start if c.source in sources else generation.start for c in checkpoints]
    last = max(c.start for c in checkpoints) - margin + STREAM_RETENTION_SECONDS + FIREHOSE_BUFFER_SECONDS + HOUR
    return min(floors) - margin - FIREHOSE_BUFFER_SECONDS, last


def contradicted(
    generation: Generation,
    landed: Iterable[Landed],
    margin: float = MARGIN_SECONDS,
    removed: Iterable[Base] = (),
) -> frozenset[str]:
    """Run ids of the generation's checkpoints a late change contradicts: made after what the
    checkpoint's source holds (its start minus the margin: a scan read the table itself) and by
    what restores over the checkpoint re-read (its start minus the margin), in an object the
    checkpoint did not see; and every checkpoint computed from a contradicted one. `removed`:
    bases retention removed (a kept checkpoint's source may be one: its start still counts)."""
    records = list(landed)
    bases = {b.run_id: b for b in (*removed, *generation.bases)}
    bad: set[str] = set()
    for b in sorted(generation.bases, key=lambda b: (b.end, b.run_id)):  # a source ends before its checkpoint
        if b.kind != "checkpoint":
            continue
        source = bases.get(b.source)
        if source is not None and source.run_id in bad:
            bad.add(b.run_id)
            continue
        floor = source.start - margin if source is not None else float("-inf")
        ceiling = b.start - margin
        if any(floor < r.when <= ceiling and unseen_by(b, r.modified, r.key) for r in records):
            bad.add(b.run_id)
    return frozenset(bad)


def retention_cutoff(timeline: Timeline, now: float, days: float, late: float = LATE_SECONDS) -> float:
    """The hour before which change objects may go, keeping every time of the last `days`
    restorable: before the start (minus the margin) of every base a time in that window uses,
    and before any hour a late change may still land in. Never lower than the last cutoff."""
    promised = now - days * 86400
    cutoff = min(promised, now - late - HOUR)
    for g in timeline.generations:
        if g.end is not None and g.end <= promised:
            continue  # wholly before the promise: none of its times are kept
        first = max(promised, g.start)
        usable = [b for b in g.bases if b.start - MARGIN_SECONDS >= timeline.pruned_before]
        needed = [b for b in usable if b.end > first]
        held = g.base_at(first, timeline.pruned_before, timeline.untrusted)  # an untrusted one's fallback
        needed += [held] if held is not None else []
        # no base at all: a --from-start restore reads the generation from its start
        starts = [b.start for b in needed] if needed else ([] if usable else [g.start])
        cutoff = min([cutoff, *(s - MARGIN_SECONDS for s in starts)])
    return max(cutoff // HOUR * HOUR, timeline.pruned_before)


def bases_to_remove(timeline: Timeline, now: float, days: float) -> list[tuple[str, Base]]:
    """(generation label, base) of the bases no time of the last `days` uses, which retention
    removes: in a generation holding such times, those older than the base restores at the
    window's start use (the newest usable trusted one ended by then; every later one stays);
    every base of a generation that ended before the window. Where no usable base had ended by
    the window's start, none of that generation goes."""
    promised = now - days * 86400
    doomed: list[tuple[str, Base]] = []
    for g in timeline.generations:
        if g.end is not None and g.end <= promised:
            doomed += [(g.label, b) for b in g.bases]  # none of its times is kept (docs/restore-model.md#retention)
            continue
        held = g.base_at(max(promised, g.start), timeline.pruned_before, timeline.untrusted)
        if held is not None:
            doomed += [(g.label, b) for b in g.bases if (b.end, b.run_id) < (held.end, held.run_id)]
    return doomed
