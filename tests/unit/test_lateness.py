"""Lateness and retention (DESIGN.md section 11): one bound for late changes, checkpoints a late
change contradicts, and the hours retention may remove."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dynamo_continuous_backup.core.errors import UnrestorableError
from dynamo_continuous_backup.core.lateness import Landed, contradicted, retention_cutoff, seen_digest
from dynamo_continuous_backup.core.timeline import LATE_SECONDS, Base, Timeline, iso

H = 3600.0
DAY = 24 * H
T0 = 1_700_000_000.0


def checkpoint(run: str, at: float, source: str, listed: float | None = None, late: float = LATE_SECONDS) -> Base:
    """A checkpoint as finish_checkpoint writes it: complete only before `at - late`."""
    return Base(run, "checkpoint", at - late, at, source=source, listed=at if listed is None else listed)


def test_the_bound_covers_a_day_in_the_stream_and_a_day_of_firehose_retries() -> None:
    # GIVEN a checkpoint as of T (a day after the table's first scan)
    at = T0 + 3 * DAY
    tl = Timeline("t").begin("g", T0).with_base("g", Base("s", "scan", T0, T0 + 60))
    tl = tl.with_base("g", checkpoint("c", at, "s"))
    window = tl.window(at + H, now=at + H)
    assert window.base is not None and window.base.run_id == "c"
    # THEN a change made 30 h (and up to 48 h) before it, landing after it, is still read over it
    for late in (30 * H, 48 * H):
        assert window.reads({"ApproximateCreationDateTime": at - late, "streamLabel": "g"})
    assert LATE_SECONDS >= 48 * H + 900


def _late_chain() -> Timeline:
    """A scan at T0, checkpoints c1 (T0 + 3 d, from the scan) and c2 (T0 + 6 d, from c1)."""
    tl = Timeline("t").begin("g", T0).with_base("g", Base("s", "scan", T0, T0 + 60))
    return tl.with_base("g", checkpoint("c1", T0 + 3 * DAY, "s")).with_base("g", checkpoint("c2", T0 + 6 * DAY, "c1"))


def test_a_change_older_than_a_checkpoint_landing_after_it_makes_it_and_those_after_it_untrusted() -> None:
    tl = _late_chain()
    gen = tl.generations[0]
    # a change made before c1's re-read span (but after the scan), written after c1 listed
    late = Landed(T0 + 3 * DAY - LATE_SECONDS - 2 * H, T0 + 3 * DAY + 5, "backups/t/late.gz")
    assert contradicted(gen, [late]) == {"c1", "c2"}
    # THEN a restore after them falls back to the scan, the previous trusted base
    window = tl.distrust(contradicted(gen, [late])).window(T0 + 7 * DAY, now=T0 + 7 * DAY)
    assert window.base is not None and window.base.run_id == "s"


def test_changes_a_checkpoint_saw_or_restores_re_read_contradict_nothing() -> None:
    gen = _late_chain().generations[0]
    c1_at = T0 + 3 * DAY
    inside = c1_at - LATE_SECONDS + H  # after c1's start: every restore over c1 reads it again
    before_scan = T0 - H  # the scan read the table after it was made
    old = c1_at - LATE_SECONDS - 2 * H
    assert contradicted(gen, [Landed(inside, c1_at + 5, "a")]) == set()
    assert contradicted(gen, [Landed(before_scan, c1_at + 5, "a")]) == set()
    assert contradicted(gen, [Landed(old, c1_at - 1, "a")]) == set()  # written before c1 listed: it saw it
    seen = replace(gen.bases[1], seen=frozenset({seen_digest("a")}))
    gen2 = replace(gen, bases=(gen.bases[0], seen, gen.bases[2]))
    assert contradicted(gen2, [Landed(old, c1_at, "a")]) == set()  # listed at that very second
    assert contradicted(gen2, [Landed(old, c1_at, "b")]) == {"c1", "c2"}  # the same second, not listed


def daily(days: int, now: float) -> Timeline:
    """A scan `days` days before `now`, then a checkpoint each day after it, the last one now."""
    tl = (
        Timeline("t")
        .begin("g", now - days * DAY - H)
        .with_base("g", Base("s", "scan", now - days * DAY, now - days * DAY + 60))
    )
    source = "s"
    for k in range(days - 1, -1, -1):
        tl = tl.with_base("g", checkpoint(f"c{k}", now - k * DAY, source))
        source = f"c{k}"
    return tl


def test_retention_keeps_the_promised_days_restorable_with_daily_checkpoints() -> None:
    now = T0 + 30 * DAY
    tl = daily(10, now)
    cutoff = retention_cutoff(tl, now, 3)
    pruned = replace(tl, pruned_before=cutoff)
    assert cutoff > tl.generations[0].start  # it does remove the oldest hours
    first = pruned.restorable()[0][0]
    assert first <= now - 3 * DAY, iso(first)
    # every time of the promised window still has a usable base
    for k in range(0, 3 * 24 + 1):
        assert pruned.window(now - k * H, now=now).base is not None


def test_retention_with_one_checkpoint_keeps_the_scan_it_needs() -> None:
    now = T0 + 30 * DAY
    tl = Timeline("t").begin("g", now - 5 * DAY).with_base("g", Base("s", "scan", now - 5 * DAY, now - 5 * DAY + 60))
    tl = tl.with_base("g", checkpoint("c", now, "s"))
    pruned = replace(tl, pruned_before=retention_cutoff(tl, now, 3))
    assert pruned.restorable() == [(now - 5 * DAY + 60, None)]  # not "from now"


def test_retention_never_removes_an_hour_a_late_change_may_still_land_in() -> None:
    now = T0 + 30 * DAY
    assert retention_cutoff(daily(10, now), now, 0.5) <= now - LATE_SECONDS - H


def test_from_start_inside_a_pruned_span_refuses_with_the_reason() -> None:
    tl = Timeline("t").begin("g", T0).with_base("g", Base("c", "checkpoint", T0 + 5 * DAY, T0 + 6 * DAY))
    tl = replace(tl, pruned_before=T0 + 2 * DAY)
    with pytest.raises(UnrestorableError, match=r"retention \(changeRetentionDays\) removed"):
        tl.window(T0 + 3 * DAY, now=T0 + 7 * DAY, from_start=True)
    # before any prune, the same request reads the generation from its start
    assert replace(tl, pruned_before=0.0).window(T0 + 3 * DAY, now=T0 + 7 * DAY, from_start=True).base is None


def test_the_earliest_restorable_time_is_named_rounded_up_and_after_retention() -> None:
    end = T0 + 0.4  # a scan ends within a second
    tl = Timeline("t").begin("g", T0 - H).with_base("g", Base("s", "scan", T0 - 60, end))
    with pytest.raises(UnrestorableError, match=iso(T0 + 1)):
        tl.window(T0 - 30, now=T0 + H)
    assert tl.window(T0 + 1, now=T0 + H).base is not None  # the second it names is restorable
    # AFTER retention removed the scan's changes, the window names the checkpoint's end as the earliest
    tl = tl.with_base("g", checkpoint("c", T0 + 3 * DAY, "s"))
    tl = replace(tl, pruned_before=T0 + 3 * DAY - LATE_SECONDS - H)
    assert tl.window(T0 + 4 * DAY, now=T0 + 4 * DAY).earliest == T0 + 3 * DAY
