"""The backup timeline (docs/design.md section 4): generations, bases and what a restore reads."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dynamo_continuous_backup.core.errors import UnrestorableError, UserInputError
from dynamo_continuous_backup.core.naming import stream_label
from dynamo_continuous_backup.core.timeline import (
    LATE_SECONDS,
    MARGIN_SECONDS,
    Base,
    Timeline,
    capture_end,
    hour_partitions,
    label_time,
)
from dynamo_continuous_backup.core.timeline_store import build_timeline

H = 3600.0
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def recreated() -> Timeline:
    """A table created at T0 with a base at +1 h, deleted at +10 h, recreated at +12 h with a base at +13 h."""
    return (
        Timeline("orders")
        .begin("g1", T0)
        .with_base("g1", Base("r1", "scan", T0 + H, T0 + H + 60, 10))
        .end("g1", T0 + 10 * H, "deleted")
        .begin("g2", T0 + 12 * H)
        .with_base("g2", Base("r2", "scan", T0 + 13 * H, T0 + 13 * H + 60, 3))
    )


def test_a_restore_reads_only_its_generation_from_its_newest_base() -> None:
    # GIVEN a generation with two bases
    tl = Timeline("t").begin("g", T0).with_base("g", Base("a", "scan", T0 + H, T0 + H + 10))
    tl = tl.with_base("g", Base("b", "checkpoint", T0 + 5 * H, T0 + 5 * H))
    # WHEN the state at +3 h and at +6 h is asked for
    early = tl.window(T0 + 3 * H, now=T0 + 100 * H)
    late = tl.window(T0 + 6 * H, now=T0 + 100 * H)
    # THEN each reads from the newest base ended by then, from its start minus the margin
    assert (early.base and early.base.run_id, early.since) == ("a", T0 + H - MARGIN_SECONDS)
    assert (late.base and late.base.run_id, late.since) == ("b", T0 + 5 * H - MARGIN_SECONDS)
    # AND up to T plus the time a change may take to reach S3, never past now
    assert late.until == T0 + 6 * H + LATE_SECONDS
    assert tl.window(T0 + 6 * H, now=T0 + 7 * H).until == T0 + 7 * H


def test_a_recreated_table_never_reads_the_old_incarnation() -> None:
    tl = recreated()
    window = tl.window(T0 + 14 * H, now=T0 + 14 * H)
    assert window.generation.label == "g2" and window.base is not None and window.base.run_id == "r2"
    assert window.since > T0 + 10 * H  # nothing of g1's hours
    old = tl.window(T0 + 5 * H, now=T0 + 100 * H)
    assert old.generation.label == "g1" and old.base is not None and old.base.run_id == "r1"
    assert old.until == T0 + 5 * H + LATE_SECONDS  # the hours a change up to T may land in, not g2's life


@pytest.mark.parametrize(
    ("at", "why", "before", "after"),
    [
        (T0 + 30 * 60, "before the earliest restorable time 2023-11-14T23:14:20Z", None, T0 + H + 60),
        (
            T0 + 11 * H,
            "(capture stopped: deleted): restorable times before it end at",
            T0 + 10 * H,
            T0 + 13 * H + 60,
        ),
        (T0 + 12.5 * H, "(no complete base of that generation", T0 + 10 * H, T0 + 13 * H + 60),
        (T0 - H, "before the earliest restorable time", None, T0 + H + 60),
    ],
)
def test_an_unrestorable_time_names_the_nearest_restorable_ones(
    at: float, why: str, before: float | None, after: float | None
) -> None:
    with pytest.raises(UnrestorableError) as caught:
        recreated().window(at, now=T0 + 20 * H)
    assert isinstance(caught.value, UserInputError) and caught.value.exit_code == 2
    assert why in str(caught.value)
    assert (caught.value.before, caught.value.after) == (before, after)


def test_no_base_at_all_names_the_backfill() -> None:
    with pytest.raises(UnrestorableError, match="run `dynamo-backup backfill t`"):
        Timeline("t").begin("g", T0).window(T0 + H, now=T0 + 2 * H)


def test_from_start_reads_a_generation_without_a_base_from_its_start() -> None:
    window = Timeline("t").begin("g", T0).window(T0 + H, now=T0 + 2 * H, from_start=True)
    assert window.base is None and window.since == T0 - MARGIN_SECONDS


def test_the_latest_state_of_a_deleted_table_is_its_last_moment() -> None:
    assert recreated().latest(now=T0 + 20 * H) == T0 + 20 * H
    deleted = recreated().end("g2", T0 + 15 * H, "deleted")
    assert deleted.latest(now=T0 + 20 * H) == pytest.approx(T0 + 15 * H - 0.001)
    assert deleted.window(deleted.latest(T0 + 20 * H), now=T0 + 20 * H).generation.label == "g2"


def test_restorable_spans_per_generation() -> None:
    assert recreated().restorable() == [(T0 + H + 60, T0 + 10 * H), (T0 + 13 * H + 60, None)]


def test_a_new_stream_ends_the_open_generation() -> None:
    tl = Timeline("t").begin("g1", T0).begin("g2", T0 + H)
    g1, g2 = tl.generations
    assert (g1.end, g1.ended_by, g2.end) == (T0 + H, "stream replaced", None)


def test_changes_are_idempotent() -> None:
    base = Base("r", "scan", T0 + 1, T0 + 2)
    once = Timeline("t").begin("g", T0).with_base("g", base).end("g", T0 + H, "deleted")
    twice = once.begin("g", T0 + 5).with_base("g", base).end("g", T0 + 2 * H, "stream disabled")
    assert twice == once


def test_a_base_for_an_unknown_generation_begins_it() -> None:
    tl = Timeline("t").with_base("g", Base("r", "export", T0, T0 + 1))
    assert [g.label for g in tl.generations] == ["g"] and tl.generations[0].start == T0


def test_hour_partitions_cover_both_ends() -> None:
    assert hour_partitions(T0, T0) == ["2023/11/14/22"]
    assert hour_partitions(T0, T0 + 2 * H) == ["2023/11/14/22", "2023/11/14/23", "2023/11/15/00"]
    assert hour_partitions(T0 + 1, T0) == []


def test_stream_label_is_the_arn_tail() -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/a/stream/b/stream/2026-11-23T10:00:00.123"
    assert stream_label(arn) == "2026-11-23T10:00:00.123"
    assert stream_label("arn:aws:dynamodb:us-east-1:123456789012:table/a") == ""
    assert label_time("2026-11-23T10:00:00.123") == 1795428000.123
    assert label_time("not-a-time") is None


def test_a_noted_end_beats_the_next_streams_start() -> None:
    # GIVEN two streams' begin facts and the first's end (its stream was turned off before
    # the second was turned on, with writes in between that no stream captured)
    facts = {
        "p/@timelines/t/begin/2026-01-01T00:00:00.json": {"streamLabel": "2026-01-01T00:00:00", "start": 0},
        "p/@timelines/t/begin/2026-01-01T02:00:00.json": {"streamLabel": "2026-01-01T02:00:00", "start": 0},
        "p/@timelines/t/end/2026-01-01T00:00:00.json": {
            "streamLabel": "2026-01-01T00:00:00",
            "end": 1767229200.0,
            "endedBy": "stream disabled",
        },
    }
    # WHEN the timeline is built, THEN the first generation ends when capture stopped, not later
    first, second = build_timeline("t", facts, {}).generations
    assert (first.end, first.ended_by) == (1767229200.0, "stream disabled")
    assert second.start == 1767232800.0 and second.end is None


def test_bases_without_a_stream_belong_to_the_generation_their_time_falls_in() -> None:
    manifest = {"runId": "r", "startTime": 1767229200.0 + 60, "endTime": 1767229200.0 + 70, "items": 1}
    facts = {"p/@timelines/t/begin/2026-01-01T01:00:00.json": {"streamLabel": "2026-01-01T01:00:00"}}
    tl = build_timeline("t", facts, {"p/@snapshots/t/r/manifest.json": manifest})
    assert [(g.label, [b.run_id for b in g.bases]) for g in tl.generations] == [("2026-01-01T01:00:00", ["r"])]
    legacy = build_timeline("t", {}, {"k": manifest})
    assert [(g.label, g.start, g.end) for g in legacy.generations] == [("", 0.0, None)]


def test_a_table_deleted_within_a_second_of_its_base_still_restores_to_its_last_moment() -> None:
    # A base that ended 0.3 s before the table was deleted: its latest state is after that base.
    tl = (
        Timeline("t")
        .begin("g", T0)
        .with_base("g", Base("b", "scan", T0 + 10.2, T0 + 10.6))
        .end("g", T0 + 10.9, "deleted")
    )
    window = tl.window(tl.latest(now=T0 + 100), now=T0 + 100)
    assert window.base is not None and window.base.run_id == "b"


def test_capture_found_off_on_a_recreated_table_ends_the_old_generation_at_the_recreation() -> None:
    gen = Timeline("t").begin("g", T0).generations[0]
    # the table was recreated an hour later and the ensure function saw it two hours later
    assert gen.end_when_capture_off(T0 + 2 * H, created=T0 + H) == (T0 + H, "deleted")
    # the same incarnation (its stream made with it, labelled a moment before): the stream went off
    assert gen.end_when_capture_off(T0 + 2 * H, created=T0 + 0.5) == (T0 + 2 * H + 1, "stream disabled")
    assert gen.end_when_capture_off(T0 + 2 * H, created=None) == (T0 + 2 * H + 1, "stream disabled")


def test_every_end_is_one_second_after_the_whole_second_capture_stopped_in() -> None:
    # One rule for every path: the exclusive end of the second of the call (or of the sighting).
    assert capture_end(T0) == T0 + 1 and capture_end(T0 + 0.999) == T0 + 1
    gen = Timeline("t").begin("g", T0 - H).generations[0]
    assert gen.end_when_capture_off(T0 + H, stopped=T0) == (T0 + 1, "stream disabled")  # the call's time
    assert gen.end_when_capture_off(T0 + 0.4) == (T0 + 1, "stream disabled")  # seen off, no event
    # a newer stream (another consumer's) was made before the sighting: capture had stopped by then
    assert gen.end_when_capture_off(T0 + H, replaced=T0 + 0.25) == (T0 + 0.25, "stream disabled")


def test_a_write_in_the_second_the_stream_went_off_is_restorable() -> None:
    # GIVEN a generation with a base, a change made in the very second its stream was turned off
    # (change times are whole seconds), and the UpdateTable call's eventTime, that second
    off = T0 + 2 * H
    gen = Timeline("t").begin("g", T0).with_base("g", Base("b", "scan", T0 + 10, T0 + 20)).generations[0]
    end = gen.end_when_capture_off(off + 60, stopped=off)
    assert end is not None
    tl = Timeline("t", (gen,)).end("g", *end)
    change = {"ApproximateCreationDateTime": off, "streamLabel": "g", "SequenceNumber": "9"}
    # WHEN the last moment of the generation is restored, THEN that change is read
    window = tl.window(tl.restorable()[0][1] - 0.001, now=off + H)  # type: ignore[operator]
    assert window.reads(change)
    assert tl.window(off, now=off + H).reads(change)
    # AND the second after is refused, naming where the restorable times end
    with pytest.raises(UnrestorableError, match="capture stopped: stream disabled") as caught:
        tl.window(off + 1, now=off + H)
    assert caught.value.before == off + 1


def test_a_stop_event_only_ends_the_generations_begun_before_it() -> None:
    # GIVEN a generation whose stream began after a DeleteTable (delivered late: the table was
    # recreated and protected again since)
    deleted = T0
    new = Timeline("t").begin("g2", T0 + 30.5).generations[0]
    # WHEN capture of the new one is found off later, the old call does not end it: the sighting does
    assert new.end_when_capture_off(T0 + H, stopped=deleted) == (T0 + H + 1, "stream disabled")
    # AND the model never applies an end at or before a generation's start
    tl = Timeline("t").begin("g1", T0 - H).begin("g2", T0 + 30.5).end("g2", deleted + 1, "deleted")
    assert tl.generation("g2").end is None  # type: ignore[union-attr]
    assert tl.begin("g0", T0 - 2 * H).generation("g2").end is None  # type: ignore[union-attr]


def test_an_end_fact_before_its_generations_begin_is_ignored_when_the_timeline_is_built() -> None:
    # GIVEN the begin of a stream, its base, and an end fact from before it began (a DeleteTable of
    # the earlier incarnation, delivered late, as an older version wrote it)
    label = "2026-01-01T02:00:00"
    facts = {
        f"p/@timelines/t/begin/{label}.json": {"streamLabel": label, "start": 0},
        f"p/@timelines/t/end/{label}.json": {"streamLabel": label, "end": 1767225601.0, "endedBy": "deleted"},
    }
    base = {"runId": "r", "streamLabel": label, "startTime": 1767232860.0, "endTime": 1767232870.0}
    # WHEN the timeline is built, THEN the generation is open and restorable from its base on
    tl = build_timeline("t", facts, {"m": base})
    assert tl.restorable() == [(1767232870.0, None)]


def test_the_latest_state_after_the_stream_was_switched_is_refused_with_the_reason() -> None:
    # GIVEN a generation ended by another consumer switching the stream to KEYS_ONLY (the table lives on)
    tl = (
        Timeline("t")
        .begin("g", T0)
        .with_base("g", Base("b", "scan", T0 + 10, T0 + 20))
        .end("g", T0 + H, "stream switched to KEYS_ONLY")
    )
    # WHEN its latest state is asked for, THEN it is refused, naming the last restorable time
    with pytest.raises(UnrestorableError, match="capture stopped: stream switched to KEYS_ONLY") as caught:
        tl.window(tl.latest(now=T0 + 2 * H), now=T0 + 2 * H)
    assert caught.value.before == T0 + H
    # AND a deleted table's latest state is still its last moment
    deleted = replace(tl, generations=(replace(tl.generations[0], ended_by="deleted"),))
    assert deleted.window(deleted.latest(now=T0 + 2 * H), now=T0 + 2 * H).at == T0 + H - 0.001
