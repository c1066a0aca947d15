"""A table's backup timeline (docs/design.md section 4), as pure data and functions.

A generation is one stretch of unbroken capture: one table incarnation and one stream, named
by the stream's label (the timestamp that ends its ARN). Each has its bases (scan snapshots,
exports, checkpoints). The state at T needs only T's generation, its newest base ended by T,
and the changes from that base's start (minus a margin) up to T: `window` says which.

When a generation ends (one rule, `capture_end`, for every path: DeleteTable, a stream turned
off or switched to another view type, capture found off by the reconcile): its end is
exclusive, one second after the whole second of the moment capture is known to have stopped
(CloudTrail's eventTime, truncated to the second, or the moment it was seen off), or the
creation of what replaced it (a newer table incarnation or stream) if that is earlier. Change
times are whole seconds rounded down, so every change captured before the call is inside its
generation, writes in the very second the stream went off included. An event only ends a
generation that began before that end, and an end at or before its generation's start is
never applied (`Timeline.end`) nor written (timeline_store.record_end).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .errors import UnrestorableError

# Clock skew between a scan and the stream's ApproximateCreationDateTime.
MARGIN_SECONDS = 60.0
# Lateness, the one bound (docs/design.md section 11): a change reaches S3 at most LATE_SECONDS after
# it was made. It can wait 24 h in the stream (a failing forwarder; then it expires), then
# Firehose buffers it up to 900 s and retries S3 for up to 24 h; plus the clock margin. So a
# checkpoint as of T claims completeness only before T - LATE_SECONDS (timeline_store.
# finish_checkpoint), retention never removes an hour a change may still land in
# (retention_cutoff), and a restore at T reads the hour partitions up to T + LATE_SECONDS.
# A change later than this contradicts the checkpoints it missed (`contradicted`).
STREAM_RETENTION_SECONDS = 24 * 3600.0
FIREHOSE_RETRY_SECONDS = 24 * 3600.0
FIREHOSE_BUFFER_SECONDS = 900.0
LATE_SECONDS = STREAM_RETENTION_SECONDS + FIREHOSE_RETRY_SECONDS + FIREHOSE_BUFFER_SECONDS + MARGIN_SECONDS


@dataclass(frozen=True)
class Base:
    """A complete image of the table inside one generation."""

    run_id: str
    kind: str  # scan | export | checkpoint
    start: float
    end: float
    items: int = 0
    manifest: str = ""  # S3 key of its manifest
    source: str = ""  # a checkpoint's: the run id of the base it was computed from
    listed: float | None = None  # a checkpoint's: LastModified of the newest change object it listed
    seen: frozenset[str] = frozenset()  # a checkpoint's: the keys it listed written at `listed`


@dataclass(frozen=True)
class Generation:
    """One table incarnation x one stream; `end` None while capture goes on."""

    label: str
    start: float
    end: float | None = None
    ended_by: str = ""  # deleted | stream disabled | stream replaced | records lost
    created: float | None = None  # the incarnation's CreationDateTime
    bases: tuple[Base, ...] = ()

    def holds(self, at: float) -> bool:
        return self.start <= at and (self.end is None or at < self.end)

    def base_at(self, at: float, pruned_before: float = 0.0, untrusted: frozenset[str] = frozenset()) -> Base | None:
        """The newest usable base that ended by `at` (usable: the changes its window reads
        are all still kept, none removed by retention, and no late change contradicts it)."""
        done = [b for b in self._usable(pruned_before, untrusted) if b.end <= at]
        return max(done, key=lambda b: (b.end, b.run_id)) if done else None

    def _usable(self, pruned_before: float, untrusted: frozenset[str]) -> list[Base]:
        return [b for b in self.bases if b.start - MARGIN_SECONDS >= pruned_before and b.run_id not in untrusted]

    def end_when_capture_off(
        self,
        seen: float,
        created: float | None = None,
        stopped: float | None = None,
        replaced: float | None = None,
        reason: str = "stream disabled",
    ) -> tuple[float, str] | None:
        """When and why this open generation ended, found with capture off at `seen`: at the end
        of the call that stopped it (`stopped`: a DeleteTable's or stream-off UpdateTable's
        eventTime) when that call can be about it, else when seen; never after the creation of
        what replaced it: a newer table incarnation (`created`) or a newer stream (`replaced`,
        its label's time). None when no end falls after its start."""
        end = capture_end(seen)
        if stopped is not None and capture_end(stopped) > self.start:  # else the call is about an older one
            end = min(end, capture_end(stopped))
        if replaced is not None and self.start < replaced:
            end = min(end, replaced)
        # A stream made with its table is labelled about when the table was created.
        if created is not None and self.start + MARGIN_SECONDS < created:
            end, reason = min(end, created), "deleted"
        return (end, reason) if end > self.start else None

    def earliest(self, pruned_before: float = 0.0, untrusted: frozenset[str] = frozenset()) -> float | None:
        """The earliest restorable time: the end of its first usable base."""
        return min((b.end for b in self._usable(pruned_before, untrusted)), default=None)


@dataclass(frozen=True)
class Window:
    """What the state at `at` reads: one generation, one base (None: no base, so unrestorable),
    and the change records of that generation with time in (since, at], found in the hour
    partitions from `since` to `until`."""

    generation: Generation
    base: Base | None
    at: float
    since: float
    until: float
    earliest: float | None = None  # the generation's earliest restorable time (None: no usable base)

    def hours(self) -> list[str]:
        # Firehose files an object by its oldest record's arrival: a change made just after
        # `since` can be in the hour before, in an object opened up to a buffer earlier.
        return hour_partitions(self.since - FIREHOSE_BUFFER_SECONDS, self.until)

    def reads(self, record: dict[str, Any]) -> bool:
        """Whether a change record counts for this window (as restore/statesql._read_filter
        says in SQL): its generation's (by label; older records by time), after `since`, by `at`."""
        when = record.get("ApproximateCreationDateTime")
        gen = self.generation
        label = record.get("streamLabel")
        if label is not None:
            mine = label == gen.label
        else:
            mine = when is not None and gen.start <= when and (gen.end is None or when < gen.end)
        if when is None:
            return self.base is None  # written by the original tool: only a history from the start has them
        return mine and when <= self.at and (self.base is None or when > self.since)


@dataclass(frozen=True)
class Timeline:
    table: str
    generations: tuple[Generation, ...] = field(default=())
    pruned_before: float = 0.0  # change objects of the hours before this were removed (retention)
    untrusted: frozenset[str] = frozenset()  # run ids of checkpoints a late change contradicts
    removed: tuple[Base, ...] = ()  # bases retention removed (their facts: what they were)

    # -- reading -------------------------------------------------------------------------
    def generation(self, label: str) -> Generation | None:
        return next((g for g in self.generations if g.label == label), None)

    def generation_at(self, at: float) -> Generation | None:
        held = [g for g in self.generations if g.holds(at)]
        return max(held, key=lambda g: g.start) if held else None

    def window(
        self,
        at: float,
        now: float,
        from_start: bool = False,
        margin: float = MARGIN_SECONDS,
        late: float = LATE_SECONDS,
    ) -> Window:
        """What the state at `at` must read; UnrestorableError when no base covers `at`. With
        `from_start` a generation without a base is read from its start (the user vouches that
        its changes are the table's whole history)."""
        gen = self.generation_at(at)
        if gen is None:
            raise unrestorable(self, at, self._uncaptured(at))
        base = gen.base_at(at, self.pruned_before, self.untrusted)
        if base is None and not from_start:
            raise unrestorable(self, at, "no complete base of that generation had ended by then")
        since = base.start - margin if base is not None else gen.start - margin
        if self.pruned_before and since < self.pruned_before:  # from the start, with the oldest changes removed
            before, after = self.nearest(at)
            nearest = f"; restorable times begin at {iso_up(after)}" if after is not None else ""
            raise UnrestorableError(
                f"{self.table} is not restorable at {iso(at)} from the start: retention (changeRetentionDays) "
                f"removed its changes before {iso(self.pruned_before)}{nearest}",
                before,
                after,
            )
        # A change at or before `at` lands in S3 at most `late` later; `at` is inside the
        # generation, so this never reaches far into the next one (its records are filtered out).
        earliest = gen.earliest(self.pruned_before, self.untrusted)
        return Window(gen, base, at, since, max(min(now, at + late), at), earliest)

    def latest(self, now: float) -> float:
        """The time a restore "to the latest state" means: now, or for a table whose last
        generation has ended (deleted, stream off), its last moment."""
        last = max(self.generations, key=lambda g: g.start, default=None)
        if last is None or last.end is None or last.end > now:
            return now
        if last.ended_by != "deleted":  # the table lives on uncaptured: its state now is unknown
            return now
        # Just before it ended: never a whole second earlier, which can be before its base ended.
        return last.end - 0.001

    def _uncaptured(self, at: float) -> str:
        """Why no generation holds `at`: the last capture that stopped before it, if any."""
        ended = [g for g in self.generations if g.end is not None and g.end <= at]
        last = max(ended, key=lambda g: g.end or 0.0, default=None)
        if last is None or last.end is None:
            return "no capture at that time"
        return f"capture stopped: {last.ended_by or 'ended'}"

    def restorable(self) -> list[tuple[float, float | None]]:
        """Spans (from, to) of restorable times, oldest first; `to` None: up to now."""
        spans = []
        for g in sorted(self.generations, key=lambda g: g.start):
            first = g.earliest(self.pruned_before, self.untrusted)
            if first is not None and (g.end is None or first < g.end):
                spans.append((first, g.end))
        return spans

    def nearest(self, at: float) -> tuple[float | None, float | None]:
        """Where the restorable span before `at` ends (its times are those before it) and where
        the one after begins (None where there is none)."""
        before: float | None = None
        after: float | None = None
        for lo, hi in self.restorable():
            if hi is not None and hi <= at:
                before = hi
            elif lo > at:
                after = lo if after is None else min(after, lo)
        return before, after

    # -- changes (each returns a new Timeline) ---------------------------------------------
    def begin(self, label: str, start: float, created: float | None = None) -> Timeline:
        """Capture of stream `label` began at `start`; an open generation on another stream ends."""
        if self.generation(label) is not None:
            return self
        ended = tuple(
            replace(g, end=start, ended_by="stream replaced") if g.end is None and g.start < start else g
            for g in self.generations
        )
        return replace(self, generations=(*ended, Generation(label, start, created=created)))

    def end(self, label: str, at: float, reason: str) -> Timeline:
        """Generation `label` ended at `at` (idempotent: the first end stays). An end at or
        before its start is about an earlier generation (a late or repeated event): ignored."""
        return replace(
            self,
            generations=tuple(
                replace(g, end=at, ended_by=reason) if g.label == label and g.end is None and at > g.start else g
                for g in self.generations
            ),
        )

    def distrust(self, run_ids: frozenset[str]) -> Timeline:
        """The timeline with these bases no longer used (a late change contradicts them)."""
        return replace(self, untrusted=self.untrusted | run_ids)

    def with_base(self, label: str, base: Base) -> Timeline:
        """Add a base to generation `label` (idempotent by run id); unknown labels begin one."""
        tl = self if self.generation(label) is not None else self.begin(label, base.start)
        gens = []
        for g in tl.generations:
            if g.label == label and all(b.run_id != base.run_id for b in g.bases):
                g = replace(g, bases=tuple(sorted((*g.bases, base), key=lambda b: (b.end, b.run_id))))
            gens.append(g)
        return replace(tl, generations=tuple(gens))


def capture_end(at: float) -> float:
    """The exclusive end of capture stopped by a call at `at` (or seen off at `at`): the end of
    its whole second, since change times are whole seconds rounded down (module docstring)."""
    return math.floor(at) + 1.0


def unrestorable(timeline: Timeline, at: float, why: str) -> UnrestorableError:
    """The error for a time in no restorable span, naming the nearest restorable times."""
    before, after = timeline.nearest(at)
    if before is None and after is not None:
        message = f"--at {iso(at)} is before the earliest restorable time {iso_up(after)}; choose a later time"
    elif before is None:
        message = (
            f"no time of {timeline.table} is restorable yet ({why}): run `dynamo-backup backfill {timeline.table}`"
        )
    else:
        near = f"restorable times before it end at {iso(before)}"
        near += f", those after it begin at {iso_up(after)}" if after is not None else ""
        message = f"{timeline.table} is not restorable at {iso(at)} ({why}): {near}"
    return UnrestorableError(message, before, after)


def checkpoint_run_id(at: float, label: str, engine: str) -> str:
    """A checkpoint's run id: sortable by time like every run id, and equal for equal (T,
    generation, engine), so two runs at once write one base. Each engine has its own id:
    their files are equal in content, not in bytes."""
    digest = hashlib.sha256(label.encode()).hexdigest()[:8]
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at)) + f"-{engine}-{digest}"


def label_time(label: str) -> float | None:
    """A stream label's timestamp as epoch seconds (None if it is not one)."""
    try:
        when = datetime.fromisoformat(label)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def hour_partitions(since: float, until: float) -> list[str]:
    """The `YYYY/MM/DD/HH` partitions whose hour overlaps [since, until]."""
    if until < since:
        return []
    first = math.floor(since / 3600) * 3600
    return [datetime.fromtimestamp(h, UTC).strftime("%Y/%m/%d/%H") for h in range(int(first), int(until) + 1, 3600)]


def iso_up(epoch: float) -> str:
    """`iso` rounded up to the whole second: the first one a user can ask for (an earliest time)."""
    return iso(math.ceil(epoch))


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
