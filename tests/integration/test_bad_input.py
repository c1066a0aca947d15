"""Bad input: one clear line naming what is wrong, a non-zero exit, nothing changed.
One table, so the list is easy to read and extend."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.cli.main import UI, main
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config

from ..helpers import BUCKET

GOOD = {"firehoseDeliveryBucket": BUCKET, "firehoseDeliveryPrefix": "backups", "region": "us-east-1"}


def config_text(**changes: Any) -> str:
    return json.dumps({**GOOD, **changes})


def seed_backups(aws: Clients) -> None:
    """A schema and one change object for table `t`, and a truncated object for table `broken`."""
    schema = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    }
    line = {
        "Keys": {"pk": {"S": "a"}},
        "NewImage": {"pk": {"S": "a"}},
        "SequenceNumber": "1",
        "eventName": "INSERT",
        "ApproximateCreationDateTime": 1,
    }
    for table in ("t", "broken"):
        aws.s3.put_object(Bucket=BUCKET, Key=f"backups/@schemas/{table}/schema.json", Body=json.dumps(schema).encode())
    aws.s3.put_object(Bucket=BUCKET, Key="backups/t/2026/01/01/00/x", Body=json.dumps(line).encode())
    body = gzip.compress(json.dumps(line).encode() * 200)
    aws.s3.put_object(Bucket=BUCKET, Key="backups/broken/2026/01/01/00/x", Body=body[: len(body) // 2])


# (case, config file text, command line after the config is known, exit code, message)
CASES: list[tuple[str, str, list[str], int, str]] = [
    ("malformed hjson", '{firehoseDeliveryBucket: "b",\n  region: [}', ["status"], 2, "malformed hjson at line 2"),
    ("unknown key", config_text(firehoseDeliverySizeMb=5), ["status"], 2, "did you mean 'firehoseDeliverySizeMB'"),
    ("wrong type", config_text(streamsMaxRecordsBatch="many"), ["status"], 2, "'streamsMaxRecordsBatch' must be int"),
    (
        "invalid regex",
        config_text(tableNameMatchRegex="(["),
        ["status"],
        2,
        "'tableNameMatchRegex' is not a valid regex",
    ),
    ("unimportable hook", config_text(optInHook="nope_mod:f"), ["status"], 2, "'optInHook' cannot be imported"),
    (
        "bucket missing",
        config_text(firehoseDeliveryBucket="no-such-bucket"),
        ["provision", "WL"],
        3,
        "bucket no-such-bucket does not exist",
    ),
    (
        "bucket in another region",
        config_text(firehoseDeliveryBucket="west-bucket"),
        ["deploy"],
        2,
        "is in us-west-2 but the config's region is us-east-1",
    ),
    ("table missing (backfill)", config_text(), ["backfill", "nosuch"], 3, "table nosuch does not exist"),
    ("table missing (verify)", config_text(), ["verify", "nosuch"], 3, "table nosuch does not exist"),
    (
        "no backups (restore)",
        config_text(),
        ["restore", "nosuch", "--to", "t-restored"],
        3,
        "no backups of table nosuch",
    ),
    (
        "malformed TIME",
        config_text(),
        ["restore", "t", "--to", "t-restored", "--at", "noon"],
        2,
        "--at 'noon' is not a time",
    ),
    (
        "TIME nan",
        config_text(),
        ["restore", "t", "--to", "t-restored", "--from-start", "--at", "nan"],
        2,
        "--at 'nan' is not a time",
    ),
    ("TIME inf (query)", config_text(), ["query", "t", "SELECT 1", "--at", "inf"], 2, "--at 'inf' is not a time"),
    (
        "TIME in the future",
        config_text(),
        ["restore", "t", "--to", "t-restored", "--at", "2999-01-01"],
        2,
        "is in the future",
    ),
    ("no base (checkpoint)", config_text(), ["checkpoint", "nosuch"], 3, "no base of table nosuch"),
    (
        "--where outside the safe subset",
        config_text(),
        ["restore", "t", "--to", "t-restored", "--where", "pk = 'a'; DROP TABLE t"],
        2,
        "--where \"pk = 'a'; DROP TABLE t\": give one predicate (no ';')",
    ),
    (
        "--key no backup holds (restore)",
        config_text(),
        ["restore", "t", "--to", "t-restored", "--from-start", "--key", "pk=zz"],
        2,
        "--key pk='zz': no such item in the backups of t",
    ),
    ("--key no backup holds (history)", config_text(), ["history", "t", "--key", "pk=zz"], 2, "no such item"),
    (
        "prefix with a slash",
        config_text(firehoseDeliveryPrefix="/backups/"),
        ["status"],
        2,
        "'firehoseDeliveryPrefix' must be a non-empty S3 key prefix",
    ),
    ("--key not the key schema", config_text(), ["history", "t", "--key", "id=1"], 2, "not a key attribute of t"),
    (
        "corrupt backup object",
        config_text(),
        ["restore", "broken", "--to", "t-restored", "--from-start"],
        1,
        "corrupt backup object",
    ),
    ("whitelist unknown key", config_text(), ["provision", "BADWL"], 2, "unknown key 'tables'"),
    ("estimate rate nan", config_text(), ["estimate", "t", "--writes-per-second", "nan"], 2, "finite number >= 0"),
    ("status watch 0", config_text(), ["status", "--watch", "0"], 2, "--watch takes a number of seconds > 0"),
    ("restore to a bad name", config_text(), ["restore", "t", "--to", "ab"], 2, "is not a DynamoDB table name"),
    # --where too deep or too large to parse (a RecursionError traceback before)
    (
        "--where 400 parentheses",
        config_text(),
        ["restore", "t", "--to", "t-r", "--where", "(" * 400 + "pk = 'a'" + ")" * 400],
        2,
        "400 levels of nested parentheses, at most 16",
    ),
    (
        "--where 2,000 ORs",
        config_text(),
        ["restore", "t", "--to", "t-r", "--where", " OR ".join(f"pk = '{i}'" for i in range(2001))],
        2,
        "2000 ANDs and ORs",
    ),
    (
        "--where 500 NOTs",
        config_text(),
        ["restore", "t", "--to", "t-r", "--where", "NOT " * 500 + "pk = 'a'"],
        2,
        "500 NOTs, at most 16",
    ),
    ("jobs --since nan", config_text(), ["jobs", "--since", "nan"], 2, "--since must be a number of days > 0"),
    ("jobs --since inf", config_text(), ["jobs", "--since", "inf"], 2, "--since must be a number of days > 0"),
    ("jobs --since 1e308", config_text(), ["jobs", "--since", "1e308"], 2, "at most 36,500, got 1e+308"),
    ("jobs of no such table", config_text(), ["jobs", "nosuch"], 2, "no table nosuch and no backup runs of it"),
    ("restore --threads 0", config_text(), ["restore", "t", "--to", "t-r", "--threads", "0"], 2, "--threads must be"),
    ("restore --threads -5", config_text(), ["restore", "t", "--to", "t-r", "--threads=-5"], 2, "got -5"),
    ("estimate --prices 1e999", config_text(), ["estimate", "t", "--prices", "PRICES_INF"], 2, "a number too large"),
    ("estimate --prices not UTF-8", config_text(), ["estimate", "t", "--prices", "PRICES_LATIN1"], 2, "not UTF-8"),
    ("estimate --prices empty", config_text(), ["estimate", "t", "--prices", "PRICES_EMPTY"], 2, "is empty"),
    ("estimate rate 1e308", config_text(), ["estimate", "t", "--writes-per-second", "1e308"], 2, "at most 1,000,000"),
    (
        "restore --target-region not a region",
        config_text(),
        ["restore", "t", "--to", "t-r", "--target-region", "not a region"],
        2,
        "--target-region 'not a region' is not an AWS region name",
    ),
]


def world(aws: Clients) -> dict[str, Any]:
    """Everything a command could change."""
    return {
        "tables": aws.dynamodb.list_tables()["TableNames"],
        "streams": aws.firehose.list_delivery_streams()["DeliveryStreamNames"],
        "functions": [f["FunctionName"] for f in aws.lambda_.list_functions()["Functions"]],
        "objects": sorted(o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])),
    }


@pytest.mark.parametrize(("case", "text", "argv", "code", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    aws: Clients,
    config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    text: str,
    argv: list[str],
    code: int,
    message: str,
) -> None:
    # GIVEN backups of t, a truncated object of `broken`, a bucket in us-west-2, and the case's config
    monkeypatch.setenv("DCB_CACHE_DIR", str(tmp_path / "cache"))
    seed_backups(aws)
    west = Clients("us-west-2")
    west.s3.create_bucket(Bucket="west-bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    (tmp_path / "config.hjson").write_text(text)
    files = {"WL": '{tableNames: ["t"]}', "BADWL": '{tables: ["t"]}', "PRICES_INF": "{s3PerGbMonth: 1e999}"}
    files |= {"PRICES_LATIN1": "{s3PerGbMonth: 0.02} // \xe9t\xe9", "PRICES_EMPTY": ""}
    for name, body in files.items():
        (tmp_path / name).write_bytes(body.encode("latin-1"))
    argv = [str(tmp_path / a) if a in files else a for a in argv]
    # WHEN the command runs
    before = world(aws)
    out, err = io.StringIO(), io.StringIO()
    exit_code = main([*argv, "--config", str(tmp_path / "config.hjson")], UI(out, err))
    # THEN one line names what is wrong, the exit code says how, and nothing changed
    assert (exit_code, err.getvalue().count("\n")) == (code, 1), (out.getvalue(), err.getvalue())
    assert message in err.getvalue() and "Traceback" not in err.getvalue()
    assert world(aws) == before, "a failed command changed something"
