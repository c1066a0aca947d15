"""restore --where on the local runtime: only the matching items at T, and with --into-existing
nothing outside the predicate is written or deleted."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from dynamo_continuous_backup.cli.main import UI, main
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.restore.where import matches, parse_where

from ..helpers import contents
from .test_restore import history, restore

__all__ = ["history"]  # the fixture, shared with test_restore
PAID = "status = 'paid' AND n > 20"


def test_where_restores_exactly_the_matching_items_into_a_new_table(
    history: Any, aws: Clients, config_path: str, tmp_path: Path
) -> None:
    config, captured = history
    at, state = captured[1]
    # WHEN the CLI restores the paid orders as they were at T
    out, err = io.StringIO(), io.StringIO()
    argv = ["restore", "orders", "--to", "orders-paid", "--at", str(at), "--where", PAID, "--config", config_path]
    assert main(argv, UI(out, err)) == 0, err.getvalue()
    # THEN the new table holds exactly the state's items the predicate matches
    wanted = {k: v for k, v in state.items() if v["status"]["S"] == "paid" and float(v["n"]["N"]) > 20}
    assert wanted and len(wanted) < len(state)
    assert contents(aws, "orders-paid") == wanted
    assert f"{len(wanted)} items" in out.getvalue() and "verified" in out.getvalue()
    assert "matched" not in out.getvalue()
    # AND a predicate that matches nothing (a number compared as text) says so instead of a bare 0
    out = io.StringIO()
    argv = ["restore", "orders", "--to", "orders-none", "--at", str(at), "--where", "n = '21'", "--config", config_path]
    assert main(argv, UI(out, err)) == 0, err.getvalue()
    assert "0 items" in out.getvalue() and "no item of orders" in out.getvalue() and "literal's type" in out.getvalue()


def test_into_existing_with_where_touches_nothing_outside_it(history: Any, aws: Clients, tmp_path: Path) -> None:
    config, captured = history
    at, state = captured[0]
    predicate = parse_where("status = 'paid'")
    # GIVEN the live table now, plus: a paid item and a new one the state at T does not have, and
    # an item paid at T that is now outside the predicate
    conflict = next(k for k, v in state.items() if matches(predicate, v))
    was_paid = state[conflict]
    extra = [("zz-paid", "paid"), ("zz-new", "new")]
    for pk, status in extra:
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": pk}, "sk": {"N": "0"}, "status": {"S": status}})
    aws.dynamodb.put_item(TableName="orders", Item={**was_paid, "status": {"S": "shipped"}})
    before = contents(aws, "orders")
    outside = {k: v for k, v in before.items() if not matches(predicate, v)}
    assert any(k not in state for k in outside)  # items the backup says were absent (deleted) at T
    # WHEN the paid items are restored to T into the live table
    result = restore(aws, config, "orders", at=str(at), into_existing=True, where="status = 'paid'", cache=tmp_path)
    after = contents(aws, "orders")
    # THEN every item outside the predicate is exactly as it was (none deleted or overwritten)
    assert {k: after.get(k) for k in outside} == outside
    # AND the items inside it are the state's paid items (those the target holds outside it excepted)
    restored = {k: v for k, v in state.items() if matches(predicate, v) and k not in outside}
    assert {k: v for k, v in after.items() if k not in outside} == restored
    conflicts = [k for k, v in state.items() if matches(predicate, v) and k in outside]
    assert result.verified and result.untouched == len(conflicts) >= 1 and conflict in conflicts
    assert result.deletes >= 1 and '["zz-paid", "0"]' not in after


def test_where_with_key_restores_the_item_only_if_it_matches(history: Any, aws: Clients, tmp_path: Path) -> None:
    config, captured = history
    at, state = captured[0]
    key, item = next((k, v) for k, v in state.items() if v["status"]["S"] != "paid")
    # GIVEN the target holds that item now with another status, outside "status = 'paid'"
    aws.dynamodb.put_item(TableName="orders", Item={"pk": item["pk"], "sk": item["sk"], "status": {"S": "moved"}})
    before = contents(aws, "orders")
    one = {"pk": item["pk"], "sk": item["sk"]}
    result = restore(
        aws, config, "orders", at=str(at), into_existing=True, keys=one, where="status = 'paid'", cache=tmp_path
    )
    # THEN restoring it with a predicate neither version matches changes nothing, and verifies
    assert result.verified and (result.puts, result.deletes) == (0, 0) and contents(aws, "orders") == before
    result = restore(
        aws, config, "orders", at=str(at), into_existing=True, keys=one, where="status <> 'paid'", cache=tmp_path
    )
    # AND with one both match, the item is restored
    assert result.verified and result.puts == 1 and contents(aws, "orders")[key] == item
