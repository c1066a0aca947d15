"""query's table output."""

from __future__ import annotations


def test_query_table_output_escapes_control_characters() -> None:
    from dynamo_continuous_backup.explore.query import render

    text = render(["item_key"], [("S7:esc\x1bkey",)], "table")
    assert "\x1b" not in text and "esc\\x1bkey" in text
