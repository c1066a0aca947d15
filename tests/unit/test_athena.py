"""The Athena engine's pure half: the call sequence against an in-memory Athena (start, bounded
polling, failure states, stop on timeout and Ctrl-C, paged results), and its SQL, parsed with
sqlglot's Athena dialect and, where DuckDB can run it, run."""

from __future__ import annotations

import json

import duckdb
import pytest
import sqlglot

from dynamo_continuous_backup.athena.engine import AthenaEngine, lines_sql, unload_sql
from dynamo_continuous_backup.athena.explore import cte_query, key_match
from dynamo_continuous_backup.athena.restore import restore
from dynamo_continuous_backup.athena.runner import POLL_MAX, AthenaRunner
from dynamo_continuous_backup.athena.tables import partition_filter, quote
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import QueryFailedError, UserInputError, WaitTimeoutError
from dynamo_continuous_backup.core.timeline import hour_partitions
from dynamo_continuous_backup.explore.athena import base_ddl, changes_ddl

from ..fakes import FakeAthena, FakeS3, FakeTime, ImportingDynamo, clients_with

CONFIG = Config("bucket", firehose_delivery_prefix="backups", wait_timeout_seconds=30, athena_workgroup="wg")


def runner(athena: FakeAthena, clock: FakeTime | None = None) -> AthenaRunner:
    clock = clock or FakeTime()
    return AthenaRunner(clients_with(athena=athena), CONFIG, clock.sleep, clock.clock)


def test_a_query_runs_in_the_configured_workgroup_and_is_polled_with_growing_waits() -> None:
    athena, clock = FakeAthena(states=("QUEUED",) + ("RUNNING",) * 6 + ("SUCCEEDED",)), FakeTime()
    runner(athena, clock).run("SELECT 1", "a test")
    (request,) = athena.started
    assert request["WorkGroup"] == "wg"
    assert request["ResultConfiguration"] == {"OutputLocation": "s3://bucket/backups/@athena-results/"}
    assert request["QueryExecutionContext"]["Database"] == "dynamodb_backups"
    assert athena.polls["q1"] == 8 and len(clock.sleeps) == 7
    assert clock.sleeps == sorted(clock.sleeps) and clock.sleeps[0] < clock.sleeps[-1] <= POLL_MAX  # backoff, bounded


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_a_query_that_fails_is_one_line_with_athenas_reason(state: str) -> None:
    athena = FakeAthena(states=("RUNNING", state), reason="SYNTAX_ERROR: line 1:8:\n Column 'x' cannot be resolved")
    with pytest.raises(QueryFailedError) as caught:
        runner(athena).run("SELECT x", "a test")
    message = str(caught.value)
    assert "\n" not in message and f"ended {state}" in message and "Column 'x' cannot be resolved" in message
    assert caught.value.query_id == "q1" and caught.value.exit_code == 1


def test_a_query_that_never_ends_times_out_after_the_wait_bound_and_is_stopped() -> None:
    athena, clock = FakeAthena(states=("RUNNING",)), FakeTime()
    with pytest.raises(
        WaitTimeoutError, match=r"timed out after 30s .*the query was stopped: raise waitTimeoutSeconds"
    ):
        runner(athena, clock).run("SELECT 1", "a test")
    assert athena.stopped == ["q1"]
    assert 30 <= clock.now <= 30 + POLL_MAX


def test_ctrl_c_while_waiting_stops_the_query_and_is_raised_again() -> None:
    athena = FakeAthena(states=("RUNNING",))

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        AthenaRunner(clients_with(athena=athena), CONFIG, interrupted).run("SELECT 1", "a test")
    assert athena.stopped == ["q1"]


def test_results_are_read_page_by_page_without_the_header_row() -> None:
    rows = [("a", "1"), ("b", None), ("c", "3")]
    athena = FakeAthena(states=("SUCCEEDED",), rows=rows, columns=("k", "v"), page=2)
    found = runner(athena).select("SELECT k, v FROM t", "a test")
    assert found.columns == ["k", "v"] and found.rows == rows and not found.truncated
    first = runner(athena).select("SELECT k, v FROM t", "a test", limit=2)
    assert first.rows == rows[:2] and first.truncated


def parses(sql: str) -> None:
    assert not isinstance(sqlglot.parse_one(sql, read="athena"), sqlglot.exp.Command), sql


def test_the_engines_sql_parses_in_the_athena_dialect() -> None:
    hours = hour_partitions(1767225600 - 7200, 1767225600 + 40 * 3600)  # across a year's end
    ddl = changes_ddl(CONFIG, "My-Table", "db")
    parses(ddl)
    # case-sensitive, mapped: the case-insensitive SerDe would lower-case attribute names in images
    assert "'case.insensitive' = 'FALSE'" in ddl and "'mapping.newimage' = 'NewImage'" in ddl
    parses(base_ddl("My-Table", "20260101T000000Z-abc", "s3://bucket/backups/@snapshots/My-Table/r/", "db"))
    parses(f"SELECT 1 FROM db.t_changes WHERE {partition_filter(hours)}")
    parses(lines_sql("SELECT 'k' AS k, '{}' AS image, NULL AS pointer"))
    parses(cte_query("with x AS (SELECT * FROM state) SELECT count(*) FROM x, changes", {"state": "SELECT 1 AS a"}))
    match = key_match({'p"k': {"S": "a'b"}, "sk": {"N": "7"}}, "Keys")
    parses(f"SELECT 1 FROM t WHERE {match}")
    # sqlglot reads UNLOAD as an opaque command: its SELECT is parsed above, its frame is checked here
    unload = unload_sql("SELECT 1", "s3://bucket/backups/@imports/t/r/")
    assert unload.startswith("UNLOAD (SELECT") and unload.endswith(
        "TO 's3://bucket/backups/@imports/t/r/'\nWITH (format = 'TEXTFILE', compression = 'GZIP')"
    )


def test_the_unloaded_lines_are_importtable_dynamodb_json() -> None:
    # The line SQL transpiled to DuckDB and run over images as the state query returns them.
    images = [
        {"pk": {"S": 'a"\\b\nü'}, "n": {"N": "1.5"}, "m": {"M": {"l": {"L": [{"NULL": True}]}}}},
        {"pk": {"B": "AAE="}},
    ]
    state = " UNION ALL ".join(
        f"SELECT 'k{i}' AS k, {quote(json.dumps(img))} AS image, NULL AS pointer" for i, img in enumerate(images)
    )
    state += " UNION ALL SELECT 'big', NULL, 'backups/@oversize/t/1.json'"  # written apart, never a line here
    sql = sqlglot.transpile(lines_sql(state), read="athena", write="duckdb")[0]
    lines = [line for (line,) in duckdb.sql(sql).fetchall()]
    assert [json.loads(line) for line in lines] == [{"Item": img} for img in images]
    assert all("\n" not in line for line in lines)


def test_the_partition_filter_selects_exactly_the_window_hours() -> None:
    # Every partition of three months around the window, as partition projection would list them.
    candidates = hour_partitions(1764547200, 1764547200 + 92 * 86400)
    for since, until in ((1767225600 - 7200, 1767225600 + 40 * 3600), (1764547200 + 3600, 1764547200 + 62 * 86400)):
        want = hour_partitions(since, until)
        values = ", ".join("(" + ", ".join(f"'{p}'" for p in h.split("/")) + ")" for h in candidates)
        sql = sqlglot.transpile(
            f"SELECT year, month, day, hour FROM (VALUES {values}) AS p(year, month, day, hour) "
            f"WHERE {partition_filter(want)}",
            read="athena",
            write="duckdb",
        )[0]
        assert sorted("/".join(r) for r in duckdb.sql(sql).fetchall()) == want
    assert partition_filter([]) == "false"


def test_restore_refuses_local_indexes_before_any_query() -> None:
    s3, athena, dynamo = FakeS3(), FakeAthena(), ImportingDynamo()
    schema = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "at")],
        "LocalSecondaryIndexes": [{"IndexName": "by-time", "KeySchema": [], "Projection": {}}],
    }
    s3.objects["backups/@schemas/threads/schema.json"] = json.dumps(schema).encode()
    engine = AthenaEngine(clients_with(s3=s3, athena=athena), CONFIG)
    with pytest.raises(UserInputError, match=r"local secondary indexes \(by-time\)"):
        restore(engine, clients_with(dynamodb=dynamo), "threads", "threads-r", None, False)
    assert athena.started == [] and dynamo.imports == []


@pytest.mark.parametrize(
    ("keys", "others"),
    [
        # a scan run: parts beside the run's documents and an interrupted attempt's part
        (
            [f"r/segment-{s:05d}-part-{p:05d}.ndjson.gz" for s in range(3) for p in range(4)],
            [
                "r/manifest.json",
                "r/run.json",
                "r/checkpoints/segment-00000.json",
                "r/segment-00000-part-00009.ndjson.gz",
            ],
        ),
        # an export: data files in a subfolder, its manifests beside it
        (
            ["e/AWSDynamoDB/x/data/a1.json.gz", "e/AWSDynamoDB/x/data/b_2.json.gz"],
            ["e/AWSDynamoDB/x/manifest-files.json"],
        ),
        # an Athena checkpoint attempt, LIKE's special characters in names, one file alone
        (["a/athena-1/20260101_000000_x%_0.gz"], ["a/athena-1/20260101_000000_x%_0.gz.bak", "a/athena-2/y.gz"]),
    ],
    ids=["scan", "export", "athena"],
)
def test_the_base_predicate_selects_exactly_the_manifests_files(keys: list[str], others: list[str]) -> None:
    from dynamo_continuous_backup.athena.tables import base_paths

    predicate = base_paths("bkt", keys, keys + others)
    con = duckdb.connect()
    paths = [f"s3://bkt/{k}" for k in keys + others]
    con.execute('CREATE TABLE t ("$path" VARCHAR)')
    con.executemany("INSERT INTO t VALUES (?)", [(p,) for p in paths])
    got = {p for (p,) in con.execute(f"SELECT * FROM t WHERE {predicate}").fetchall()}
    assert got == {f"s3://bkt/{k}" for k in keys}
    assert len(predicate) < 400  # bounded by folders and unlisted objects, never by the file count
