"""`status`'s capture health: from observed figures to the lag and delivery error shown, and
the `--watch` loop."""

from __future__ import annotations

import io
import json

import pytest

from dynamo_continuous_backup.cli.base import UI
from dynamo_continuous_backup.cli.protect import show_status, watch
from dynamo_continuous_backup.provisioning.health import Health, Observed, decide_health, lag_text
from dynamo_continuous_backup.provisioning.status import TableStatus


def test_a_healthy_table_shows_its_worst_lag_and_no_error() -> None:
    health = decide_health(Observed(lag_max=4.2, undelivered=0.0, delivery_success_min=1.0, delivery_status="ACTIVE"))
    assert health == Health(4.2, None, None)
    assert lag_text(health) == "4s"


def test_undelivered_records_and_failed_deliveries_are_the_delivery_error() -> None:
    health = decide_health(Observed(lag_max=75.0, undelivered=12.0, delivery_success_min=0.0, delivery_status="ACTIVE"))
    assert health.delivery_error == (
        "12 records undelivered in the last 15 min; Firehose deliveries to S3 failed in the last 15 min"
    )
    assert lag_text(health) == "1m15s"


def test_a_failed_delivery_stream_says_why() -> None:
    failure = {"Type": "INVALID_KMS_KEY", "Details": "key disabled"}
    health = decide_health(Observed(delivery_status="CREATING_FAILED", failure=failure))
    assert health.delivery_error == "delivery stream CREATING_FAILED: INVALID_KMS_KEY: key disabled"
    stuck = decide_health(Observed(delivery_status="DELETING_FAILED"))
    assert stuck.delivery_error == "delivery stream DELETING_FAILED"
    assert decide_health(Observed(delivery_status="CREATING")).delivery_error is None


def test_no_datum_is_no_lag_and_no_metrics_is_unknown_with_the_reason() -> None:
    idle = decide_health(Observed(delivery_status="ACTIVE"))
    assert idle == Health(None, None, None) and lag_text(idle) == "-"
    why = "AccessDenied from GetMetricData: grant it"
    denied = decide_health(Observed(delivery_status="ACTIVE", metrics_error=why))
    assert lag_text(denied) == "unknown"
    assert denied.metrics_note == "lag and delivery metrics unknown: AccessDenied from GetMetricData: grant it"


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (59.4, "59s"), (61, "1m01s"), (7380, "2h03m")])
def test_lag_text(seconds: float, text: str) -> None:
    assert lag_text(Health(seconds, None, None)) == text


def row(table: str, **fields: object) -> TableStatus:
    base: dict[str, object] = dict(
        table=table,
        opted_in=True,
        stream_view_type="NEW_AND_OLD_IMAGES",
        delivery_stream=table,
        delivery_status="ACTIVE",
        mapping_state="Enabled",
        last_backup=None,
        protected=True,
        problem="",
    )
    return TableStatus(**{**base, **fields})  # type: ignore[arg-type]


def test_the_table_has_lag_and_delivery_error_columns_and_one_note() -> None:
    out = io.StringIO()
    note = "lag and delivery metrics unknown: AccessDenied"
    rows = [
        row("orders", lag_seconds=3.0, delivery_error="2 records undelivered in the last 15 min"),
        row("users", metrics_note=note),
        row("audit", metrics_note=note),
    ]
    assert show_status(rows, UI(out, out)) == 0
    lines = out.getvalue().splitlines()
    assert "LAG" in lines[0] and "DELIVERY ERROR" in lines[0]
    assert "3s" in lines[1] and "2 records undelivered in the last 15 min" in lines[1]
    assert "unknown" in lines[2]
    assert [line for line in lines if line.startswith("note:")] == [f"note: {note}"]  # once, not per table


def test_a_checkpoint_left_to_the_cli_is_a_note_naming_the_command() -> None:
    out = io.StringIO()
    note = "checkpoint too large for the function: run `dynamo-backup checkpoint big --config <your config>`"
    assert show_status([row("big", checkpoint_note=note), row("small")], UI(out, out)) == 0
    assert [line for line in out.getvalue().splitlines() if line.startswith("note:")] == [f"note: big: {note}"]


def test_json_has_the_health_fields() -> None:
    out = io.StringIO()
    show_status([row("orders", lag_seconds=3.0)], UI(out, out), as_json=True)
    [doc] = json.loads(out.getvalue())
    assert doc["lag_seconds"] == 3.0 and doc["delivery_error"] is None and doc["metrics_note"] is None


def test_watch_renders_every_interval_until_ctrl_c_and_exits_by_the_last_render() -> None:
    # GIVEN renders whose exit codes change, and a Ctrl-C during the third wait
    codes = iter([1, 0, 1])
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            raise KeyboardInterrupt

    out = io.StringIO()
    # WHEN watching every 5 s
    code = watch(lambda: next(codes), UI(out, out), 5.0, sleep=sleep)
    # THEN three renders, a wait of 5 s before each later one, and the third render's exit code
    assert slept == [5.0, 5.0, 5.0] and code == 1
    assert out.getvalue().count("(every 5s, Ctrl-C to stop)") == 3


def test_watch_stops_after_count_and_an_interrupted_first_render_exits_130() -> None:
    out = io.StringIO()
    assert watch(lambda: 0, UI(out, out), 1.0, count=2, sleep=lambda s: None) == 0
    assert out.getvalue().count("Ctrl-C to stop") == 2

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert watch(interrupted, UI(out, out), 1.0, sleep=lambda s: None) == 130
