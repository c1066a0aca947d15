"""history, query and athena-ddl over backups the local runtime captured."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlglot

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.local import LocalRuntime

from ..helpers import cli


@pytest.fixture
def captured(
    deployed: tuple[Config, LocalRuntime], config_path: str, aws: Clients, make_table: Callable[..., str]
) -> str:
    """The config of a deployed stack that captured a user's insert, update, put and delete."""
    _, runtime = deployed
    make_table("users", key="id", key_type="N")
    runtime.settle()
    aws.dynamodb.put_item(TableName="users", Item={"id": {"N": "7"}, "name": {"S": "Ada"}, "plan": {"S": "free"}})
    aws.dynamodb.update_item(
        TableName="users",
        Key={"id": {"N": "7"}},
        UpdateExpression="SET #p = :p, seats = :s",
        ExpressionAttributeNames={"#p": "plan"},
        ExpressionAttributeValues={":p": {"S": "pro"}, ":s": {"N": "3"}},
    )
    aws.dynamodb.put_item(TableName="users", Item={"id": {"N": "8"}, "name": {"S": "Bob"}})
    aws.dynamodb.delete_item(TableName="users", Key={"id": {"N": "7"}})
    runtime.settle()
    return config_path


def test_history_shows_every_version_with_a_diff(captured: str) -> None:
    code, out, _ = cli("history", "users", "--key", "id=7", "--config", captured)
    assert code == 0
    assert "INSERT" in out and "+ name = 'Ada'" in out
    assert "~ plan: 'free' -> 'pro'" in out and "+ seats = 3" in out
    assert "REMOVE" in out and "- name (was 'Ada')" in out
    assert out.index("INSERT") < out.index("MODIFY") < out.index("REMOVE")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "user=7"], "--key user: not a key attribute of users (keys: id)"),
        (["--key", "id=seven"], "--key id=seven: id is a number"),
        (["--key", "id"], "use ATTR=VALUE"),
    ],
)
def test_history_key_errors_are_one_line(captured: str, args: list[str], message: str) -> None:
    code, _, err = cli("history", "users", *args, "--config", captured)
    assert code == 2 and message in err and err.count("\n") == 1


def test_query_views_changes_and_state(captured: str) -> None:
    # the changes view: one row per captured change
    code, out, _ = cli(
        "query",
        "users",
        "SELECT event_name, count(*) AS n FROM changes GROUP BY 1 ORDER BY 1",
        "--config",
        captured,
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out) == [
        {"event_name": "INSERT", "n": 2},
        {"event_name": "MODIFY", "n": 1},
        {"event_name": "REMOVE", "n": 1},
    ]
    # the state view: the items live now (user 7 was deleted)
    code, out, _ = cli(
        "query", "users", "SELECT item->>'$.name.S' AS name FROM state", "--config", captured, "--format", "csv"
    )
    assert out.splitlines() == ["name", "Bob"]
    # a bad query is a user error
    code, _, err = cli("query", "users", "SELECT nope FROM state", "--config", captured)
    assert code == 2 and "query failed" in err


def test_athena_ddl_parses_in_the_athena_dialect(captured: str) -> None:
    code, out, _ = cli("athena-ddl", "users", "--config", captured)
    assert code == 0
    parsed = [sqlglot.parse_one(s, read="athena") for s in out.split(";") if "CREATE" in s]
    assert [type(p).__name__ for p in parsed] == ["Create", "Create"]  # real statements, not opaque commands
    assert parsed[0].find(sqlglot.exp.PartitionedByProperty) is not None
    assert "projection.enabled" in out and "storage.location.template" in out
    assert "s3://backup-bucket/backups/users/${year}/${month}/${day}/${hour}/" in out


def test_restore_cli_bad_input_is_one_line(captured: str) -> None:
    for args, message in (
        (["--at", "yesterday"], "is not a time"),
        (["--key", "nope=1"], "not a key attribute"),
        (["--at", "1999-01-01"], "before the earliest restorable time"),
    ):
        code, out, err = cli("restore", "users", "--to", "users-r", "--config", captured, *args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, out, err)
    code, _, err = cli("restore", "no-such-table", "--to", "no-such-r", "--config", captured)
    assert code == 3 and "no backups of table no-such-table" in err


def test_history_and_state_follow_oversize_pointers(
    deployed: tuple[Config, LocalRuntime], aws: Clients, tmp_path: Path, make_table: Callable[..., str]
) -> None:
    from dynamo_continuous_backup.core.records import json_form, loads
    from dynamo_continuous_backup.explore.history import item_history
    from dynamo_continuous_backup.explore.query import open_views, run_query
    from dynamo_continuous_backup.restore.backups import BackupStore

    from ..helpers import s3_records

    # GIVEN an item updated with both images too large for Firehose: the MODIFY is a pointer to S3
    config, runtime = deployed
    make_table("docs")
    runtime.settle()
    blob = bytes(range(256)) * 1500  # 384 KB: both images of an update, base64, exceed 1000 KiB
    aws.dynamodb.put_item(TableName="docs", Item={"pk": {"S": "big"}, "blob": {"B": blob}, "v": {"N": "1"}})
    aws.dynamodb.put_item(TableName="docs", Item={"pk": {"S": "big"}, "blob": {"B": blob[::-1]}, "v": {"N": "2"}})
    runtime.settle()
    assert [r["eventName"] for r in s3_records(aws, "backups/docs/") if "oversizeS3Key" in r] == ["MODIFY"]
    # WHEN its history and the state are read from the backups
    live = json_form(aws.dynamodb.get_item(TableName="docs", Key={"pk": {"S": "big"}})["Item"])
    store = BackupStore(aws, config, tmp_path)
    backups = store.sync("docs")
    # history: the MODIFY version has its image, read from the full record in S3
    versions = item_history(backups, {"pk": {"S": "big"}}, store)
    assert [v.event for v in versions] == ["INSERT", "MODIFY"] and versions[-1].image == live
    assert "~ v: 1 -> 2" in versions[-1].changes
    # query: the state view holds the item, not NULL
    _, rows = run_query(open_views(backups, None, store), "SELECT item::VARCHAR FROM state")
    assert [loads(r[0]) for r in rows] == [live]


def test_athena_names_are_distinct_and_deterministic(captured: str) -> None:
    from dynamo_continuous_backup.explore.athena import athena_name

    tables = ["orders", "Orders", "ORDERS", "my-table", "my.table", "my_table", "a" * 255, "a" * 254 + "b"]
    names = [athena_name(t) for t in tables]
    assert len(set(names)) == len(tables) and names == [athena_name(t) for t in tables]
    assert athena_name("orders") == "orders" and athena_name("my_table") == "my_table"  # unchanged when valid
    assert all(re.fullmatch(r"[a-z0-9_]{1,220}", n) for n in names)
    code, out, _ = cli("athena-ddl", "My-Table", "--config", captured)
    assert code == 0 and f"dynamodb_backups.{athena_name('My-Table')}_changes" in out
    assert [type(sqlglot.parse_one(s, read="athena")).__name__ for s in out.split(";") if "CREATE" in s] == [
        "Create",
        "Create",
    ]
