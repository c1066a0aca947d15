"""Retention removes the bases no time of the promised window uses (lateness.bases_to_remove):
every time of the last N days restorable before a prune is restorable after it, from the same
base; the fallback of an untrusted checkpoint stays; a generation wholly before the window goes."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamo_continuous_backup.core.errors import UnrestorableError
from dynamo_continuous_backup.core.lateness import bases_to_remove, retention_cutoff
from dynamo_continuous_backup.core.timeline import LATE_SECONDS, Base, Timeline

H = 3600.0
DAY = 24 * H
T0 = 1_700_000_000.0


def checkpoint(run: str, at: float, source: Base) -> Base:
    """A checkpoint as finish_checkpoint writes it: complete only before `at - late`."""
    return Base(run, "checkpoint", max(at - LATE_SECONDS, source.start), at, source=source.run_id, listed=at)


def daily(tl: Timeline, label: str, first: float, days: int) -> Timeline:
    """A scan at `first`, then a checkpoint a day for `days` days, each from the one before."""
    base = Base(f"{label}-s", "scan", first, first + 60)
    tl = tl.with_base(label, base)
    for k in range(1, days + 1):
        base = checkpoint(f"{label}-c{k}", first + k * DAY, base)
        tl = tl.with_base(label, base)
    return tl


def retained(tl: Timeline, now: float, days: float) -> Timeline:
    """The timeline after prune_changes at `now`: the change cutoff, the bases removed."""
    cutoff = retention_cutoff(tl, now, days)
    doomed = {b.run_id for _, b in bases_to_remove(tl, now, days)}
    gens = tuple(replace(g, bases=tuple(b for b in g.bases if b.run_id not in doomed)) for g in tl.generations)
    return replace(tl, generations=gens, pruned_before=cutoff)


def used(tl: Timeline, at: float, now: float) -> tuple[str, str] | None:
    """(generation, base) a restore at `at` reads, None when it is refused."""
    try:
        window = tl.window(at, now)
    except UnrestorableError:
        return None
    return window.generation.label, window.base.run_id if window.base else ""


def removed(tl: Timeline, now: float, days: float) -> set[str]:
    return {b.run_id for _, b in bases_to_remove(tl, now, days)}


NOW = T0 + 10 * DAY + 5 * H


def test_daily_checkpoints_keep_the_base_at_the_windows_start_and_every_one_after() -> None:
    tl = daily(Timeline("t").begin("g", T0 - H), "g", T0, 10)  # scan at T0, c1..c10
    # three days back is between c7 (T0 + 7 d) and c8: restores there use c7
    assert used(tl, NOW - 3 * DAY, NOW) == ("g", "g-c7")
    assert removed(tl, NOW, 3) == {"g-s", *(f"g-c{k}" for k in range(1, 7))}
    after = retained(tl, NOW, 3)
    for k in range(0, 3 * 24 + 1):
        at = NOW - k * H
        assert used(after, at, NOW) == used(tl, at, NOW), at
    # the earliest restorable time is now c7's end, before the window's start
    assert after.restorable() == [(T0 + 7 * DAY, None)]
    assert used(after, T0 + 7 * DAY - 1, NOW) is None


def test_without_a_newer_base_the_only_one_stays() -> None:
    tl = Timeline("t").begin("g", T0 - H).with_base("g", Base("s", "scan", T0, T0 + 60))
    assert removed(tl, T0 + 30 * DAY, 3) == set()  # restores of the last 3 days read from it


def test_an_untrusted_checkpoints_fallback_is_kept_with_its_changes() -> None:
    tl = daily(Timeline("t").begin("g", T0 - H), "g", T0, 10)
    # a late change contradicted c7 and every checkpoint computed from it
    tl = tl.distrust(frozenset(f"g-c{k}" for k in range(7, 11)))
    assert used(tl, NOW, NOW) == ("g", "g-c6")
    assert removed(tl, NOW, 3) == {"g-s", *(f"g-c{k}" for k in range(1, 6))}
    after = retained(tl, NOW, 3)
    for k in range(0, 3 * 24 + 1):
        assert used(after, NOW - k * H, NOW) == ("g", "g-c6")


def test_a_generation_that_ended_before_the_window_loses_every_base() -> None:
    # a table deleted 5 days ago and created again: only the new one's times are promised
    tl = daily(Timeline("t").begin("old", T0 - H), "old", T0, 4).end("old", T0 + 5 * DAY, "deleted")
    tl = daily(tl.begin("new", T0 + 5 * DAY + H), "new", T0 + 5 * DAY + 2 * H, 5)
    assert removed(tl, NOW, 3) >= {"old-s", *(f"old-c{k}" for k in range(1, 5))}
    after = retained(tl, NOW, 3)
    assert [g.label for g in after.generations if g.bases] == ["new"]
    assert used(after, T0 + 4 * DAY + H, NOW) is None  # the deleted table's times are gone


def test_a_generation_that_ended_inside_the_window_keeps_the_base_its_times_use() -> None:
    tl = daily(Timeline("t").begin("old", T0 - H), "old", T0, 9).end("old", NOW - 2 * DAY, "deleted")
    tl = daily(tl.begin("new", NOW - 2 * DAY + H), "new", NOW - 2 * DAY + 2 * H, 1)
    assert used(tl, NOW - 3 * DAY, NOW) == ("old", "old-c7")
    assert "old-c7" not in removed(tl, NOW, 3) and "old-c6" in removed(tl, NOW, 3)


def test_no_base_ended_by_the_windows_start_keeps_them_all() -> None:
    tl = daily(Timeline("t").begin("g", NOW - 2 * DAY), "g", NOW - 2 * DAY + H, 1)
    assert removed(tl, NOW, 3) == set()


@st.composite
def timelines(draw: st.DrawFn) -> tuple[Timeline, float, list[float]]:
    """1 to 3 generations over ~12 days, each a scan and some checkpoints at any times, some
    untrusted, ended or not; the times of the prunes."""
    tl = Timeline("t")
    start = T0
    gens = draw(st.integers(1, 3))
    for n in range(gens):
        label = f"g{n}"
        tl = tl.begin(label, start)
        at = start + draw(st.floats(0, 2 * DAY))
        base = Base(f"{label}-s", "scan", at, at + 60)
        tl = tl.with_base(label, base)
        for k in range(draw(st.integers(0, 8))):
            at += draw(st.floats(H, 3 * DAY))
            base = checkpoint(f"{label}-c{k}", at, base)
            tl = tl.with_base(label, base)
        if n < gens - 1 or draw(st.booleans()):
            end = at + draw(st.floats(1, 3 * DAY))
            tl = tl.end(label, end, "deleted")
            start = end + draw(st.floats(0, DAY))
    runs = [b.run_id for g in tl.generations for b in g.bases if b.kind == "checkpoint"]
    tl = tl.distrust(frozenset(draw(st.lists(st.sampled_from(runs), max_size=3)) if runs else ()))
    first = T0 + draw(st.floats(DAY, 20 * DAY))
    return tl, first, [first + draw(st.floats(0, 5 * DAY)) for _ in range(draw(st.integers(1, 3)))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines(), st.sampled_from([1.0, 2.0, 3.0, 7.0]))
def test_every_promised_time_restorable_before_a_prune_is_after_from_the_same_base(
    drawn: tuple[Timeline, float, list[float]], days: float
) -> None:
    tl, _, prunes = drawn
    for now in sorted(prunes):
        after = retained(tl, now, days)
        promised = now - days * DAY
        ends = [b.end for g in tl.generations for b in g.bases] + [g.end or now for g in tl.generations]
        times = [promised + k * (now - promised) / 50 for k in range(51)]
        times += [t + d for t in ends for d in (-1, 0, 1) if promised <= t + d <= now]
        for at in times:
            assert used(after, at, now) == used(tl, at, now), (at, now)
        tl = after
