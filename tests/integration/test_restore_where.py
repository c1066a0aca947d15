"""restore --where on the local runtime: only the matching items at T, and with --into-existing
the slice rule: write what matched at T, delete only what matches now and did not exist at T."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from dynamo_continuous_backup.cli.main import UI, main
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.records import wire_form
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


def test_into_existing_with_where_writes_the_slice_at_t_and_never_deletes_what_existed_then(
    history: Any, aws: Clients, tmp_path: Path
) -> None:
    config, captured = history
    at, state = captured[0]
    predicate = parse_where("status = 'paid'")
    at_t = {k: v for k, v in state.items() if matches(predicate, v)}  # the slice at T
    # GIVEN the live table now, where: (1) an item that existed at T outside the predicate now
    # matches it, (2) an item paid at T is now outside it, (3) a paid and a new item did not exist at T
    was_other = next(k for k, v in state.items() if not matches(predicate, v))
    was_paid = next(iter(at_t))
    aws.dynamodb.put_item(TableName="orders", Item=wire_form({**state[was_other], "status": {"S": "paid"}}))
    aws.dynamodb.put_item(TableName="orders", Item=wire_form({**state[was_paid], "status": {"S": "shipped"}}))
    for pk, status in [("zz-paid", "paid"), ("zz-new", "new")]:
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": pk}, "sk": {"N": "0"}, "status": {"S": status}})
    before = contents(aws, "orders")
    # WHEN the paid items are restored to T into the live table
    result = restore(aws, config, "orders", at=str(at), into_existing=True, where="status = 'paid'", cache=tmp_path)
    after = contents(aws, "orders")
    # THEN (1) the item that existed at T is kept as it is now (never deleted, nothing of it at T to write)
    assert after[was_other] == before[was_other]
    # AND (2) the item paid at T is written back as it was then
    assert after[was_paid] == state[was_paid]
    # AND (3) only items that match now and did not exist at T are deleted: zz-paid, not zz-new
    new_paid, new_other = (json.dumps([{"S": pk}, {"N": "0"}]) for pk in ("zz-paid", "zz-new"))
    assert new_paid in before and new_paid not in after and after[new_other] == before[new_other]
    gone = {k for k, v in before.items() if k not in state and matches(predicate, v)}
    expected = {k: v for k, v in before.items() if k not in gone} | at_t
    assert after == expected
    assert result.verified and result.untouched >= 1 and result.deletes == len(gone) >= 1


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
    # AND an item that existed at T outside the predicate, and matches it now, is kept (not deleted)
    aws.dynamodb.put_item(TableName="orders", Item=wire_form({**item, "status": {"S": "paid"}}))
    result = restore(
        aws, config, "orders", at=str(at), into_existing=True, keys=one, where="status = 'paid'", cache=tmp_path
    )
    assert result.verified and (result.deletes, result.untouched) == (0, 1)
    assert contents(aws, "orders")[key] == {**item, "status": {"S": "paid"}}
