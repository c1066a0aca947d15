"""The Athena engine on the emulator's Athena (moto): it accepts every query and answers with
canned results (queued through moto's API); it runs no SQL, so what an UNLOAD would write is
put in S3 by the test, from the source table. Its state manager makes queries slow or stuck."""

from __future__ import annotations

import gzip
import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from dynamo_continuous_backup.athena.engine import AthenaEngine
from dynamo_continuous_backup.athena.restore import checkpoint as athena_checkpoint
from dynamo_continuous_backup.athena.restore import restore
from dynamo_continuous_backup.athena.runner import AthenaRunner
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import BackupError, UnrestorableError, UserInputError, WaitTimeoutError
from dynamo_continuous_backup.core.records import json_form
from dynamo_continuous_backup.core.timeline_store import prune_changes
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.local.emulator import EMULATOR_MARK, EmbeddedMoto

from .. import helpers
from ..fakes import FakeTime, Proxy, clients_with
from ..helpers import BUCKET, contents
from .test_checkpoint import DAY, NOW, synthesize
from .test_lateness import daily_checkpoints, snapshot_runs

SCHEMA = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}


def moto_api(server: EmbeddedMoto, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{server.endpoint}/moto-api/{path}", data=json.dumps(body).encode(), method="POST"
    )
    urllib.request.urlopen(request).read()


@pytest.fixture
def slow_queries(moto_server: EmbeddedMoto) -> Iterator[Callable[[int], None]]:
    """`slow(n)`: each query stays QUEUED, then RUNNING, for n GetQueryExecution calls each."""

    def slow(n: int) -> None:
        transition = {"progression": "manual", "times": n}
        moto_api(
            moto_server, "state-manager/set-transition", {"model_name": "athena::execution", "transition": transition}
        )

    yield slow
    moto_api(moto_server, "state-manager/unset-transition", {"model_name": "athena::execution"})


def canned(server: EmbeddedMoto, *results: list[tuple[str, ...]]) -> None:
    """Queue one result per query to come (a header row first, as Athena answers a SELECT)."""
    queued = [
        {
            "rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in rows],
            "column_info": [{"Name": n, "Label": n, "Type": "varchar"} for n in (rows[0] if rows else ())],
        }
        for rows in results
    ]
    moto_api(server, "static/athena/query-results", {"region": "us-east-1", "results": queued})


class UnloadingAthena(Proxy):
    """moto's Athena, plus what an UNLOAD would have written: `lines`, gzip, under its TO."""

    def __init__(self, real: Any, s3: Any, lines: list[dict[str, Any]]) -> None:
        self.real, self.s3, self.lines = real, s3, lines
        self.queries: list[dict[str, Any]] = []

    def start_query_execution(self, **request: Any) -> Any:
        self.queries.append(request)
        found = re.search(r"\nTO '(s3://[^']*)'", request["QueryString"])
        if request["QueryString"].startswith("UNLOAD") and found:
            bucket, _, key = found.group(1)[len("s3://") :].partition("/")
            body = gzip.compress(b"".join(json.dumps(x).encode() + b"\n" for x in self.lines))
            self.s3.put_object(Bucket=bucket, Key=f"{key}20260101_000000_00001_abcde_0.gz", Body=body)
        return self.real.start_query_execution(**request)


def test_restore_on_athena_unloads_under_imports_and_imports_a_new_table(
    deployed: tuple[Config, LocalRuntime],
    aws: Clients,
    moto_server: EmbeddedMoto,
    make_table: Callable[..., str],
    slow_queries: Callable[[int], None],
) -> None:
    # GIVEN a protected table with TTL and a few items, and an Athena whose queries take a while
    config, runtime = deployed
    make_table("sessions")
    aws.dynamodb.update_time_to_live(
        TableName="sessions", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    runtime.settle()
    for i in range(5):
        aws.dynamodb.put_item(TableName="sessions", Item={"pk": {"S": f"s{i}"}, "exp": {"N": "4102444800"}})
    runtime.settle()
    source = contents(aws, "sessions", ("pk",))
    lines = [{"Item": item} for item in source.values()]
    athena = UnloadingAthena(aws.athena, aws.s3, [json_form(x) for x in lines])
    # the database, the changes table, the base's table, the count (5 items, none oversize), the UNLOAD
    canned(moto_server, [], [], [], [("items", "oversize"), ("5", "0")], [])
    slow_queries(2)
    clock = FakeTime()
    engine = AthenaEngine(clients_with(aws, athena=athena), config, clock.sleep, clock.clock)
    # WHEN it is restored with the Athena engine
    result = restore(engine, aws, "sessions", "sessions-r", None, False)
    # THEN every query ran in the workgroup, writing results to the output location, and parses
    sql = [q["QueryString"] for q in athena.queries]
    assert [s.split()[0] for s in sql] == ["CREATE", "CREATE", "CREATE", "SELECT", "UNLOAD"]
    assert {q["WorkGroup"] for q in athena.queries} == {"primary"}
    assert {q["ResultConfiguration"]["OutputLocation"] for q in athena.queries} == {config.athena_results}
    for statement in sql[:4]:
        sqlglot.parse_one(statement, read="athena")
    assert "year IN (" in sql[3]  # the changes are pruned to the window's hours
    assert f"LOCATION 's3://{BUCKET}/backups/@snapshots/sessions/" in sql[2]  # a table over the base's run
    assert clock.sleeps  # moto kept each query QUEUED and RUNNING a while: polled with waits
    # the state was UNLOADed under @imports/TARGET/ and imported from there into the new table
    assert result.location.startswith(f"s3://{BUCKET}/backups/@imports/sessions-r/")
    assert result.items == 5 and contents(aws, "sessions-r", ("pk",)) == source
    desc = aws.dynamodb.describe_table(TableName="sessions-r")["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    ttl = aws.dynamodb.describe_time_to_live(TableName="sessions-r")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "exp"
    # AND an import that loads other than the state's count is an error, not a restore
    canned(moto_server, [("items", "oversize"), ("6", "0")], [])
    with pytest.raises(BackupError, match=r"import into sessions-r2 loaded 5 items with 0 errors, .* has 6"):
        restore(engine, aws, "sessions", "sessions-r2", None, False)
    # AND --where is computed by Athena: its predicate is in the state query, the count is the slice's
    s1 = {k: v for k, v in source.items() if '"s1"' in k}
    athena.lines = [json_form({"Item": item}) for item in s1.values()]
    athena.queries.clear()
    canned(moto_server, [("items", "oversize"), ("1", "0")], [])
    assert restore(engine, aws, "sessions", "sessions-r3", None, False, "pk = 's1'").items == 1
    assert contents(aws, "sessions-r3", ("pk",)) == s1
    [count] = [q["QueryString"] for q in athena.queries if q["QueryString"].startswith("SELECT count")]
    assert "'s1'" in count and "JSON_EXTRACT_SCALAR" in count.upper()
    with pytest.raises(UserInputError, match="give one predicate"):
        restore(engine, aws, "sessions", "sessions-r4", None, False, "pk = 's1'; DROP TABLE x")
    # AND a table whose changes are in the multi-tenant layout is refused, not read in part
    aws.s3.put_object(Bucket=BUCKET, Key="backups/sessions/tenant=acme/2026/01/01/00/x.gz", Body=b"")
    with pytest.raises(UserInputError, match="multi-tenant layout"):
        restore(engine, aws, "sessions", "sessions-r5", None, False)


def test_a_stuck_query_on_moto_is_stopped_at_the_wait_bound_and_on_ctrl_c(
    aws: Clients, config: Config, slow_queries: Callable[[int], None]
) -> None:
    slow_queries(10**9)  # never leaves QUEUED
    clock = FakeTime()
    bounded = config.replace(wait_timeout_seconds=20)
    with pytest.raises(WaitTimeoutError, match="the query was stopped"):
        AthenaRunner(aws, bounded, clock.sleep, clock.clock).run("SELECT 1", "a stuck query")
    assert 20 <= clock.now <= 30

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        AthenaRunner(aws, bounded, interrupted).run("SELECT 2", "an interrupted query")
    ids = aws.athena.list_query_executions()["QueryExecutionIds"]
    states = [aws.athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Status"]["State"] for i in ids]
    assert states == ["CANCELLED", "CANCELLED"]


def test_the_athena_engine_refuses_the_embedded_emulator(
    config_path: str, aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the embedded AWS, whose Athena answers every query with no rows
    monkeypatch.setenv(EMULATOR_MARK, "1")
    # WHEN any command is asked to run on Athena, THEN it refuses in one line and writes nothing
    for args in (
        ("checkpoint", "orders", "--config", config_path, "--engine", "athena"),
        ("restore", "orders", "--to", "orders-r", "--config", config_path, "--engine", "athena"),
        ("query", "orders", "SELECT 1", "--config", config_path, "--engine", "athena"),
    ):
        code, out, err = helpers.cli(*args)
        assert code == 2 and "needs a real AWS account" in err and out == "", args
    assert aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="backups/@snapshots/").get("KeyCount", 0) == 0


class RecordingS3(Proxy):
    """moto's S3, noting each call as the IAM action and resource it needs."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.needs: list[tuple[str, str]] = []

    def _object(self, action: str, bucket: str, key: str) -> None:
        self.needs.append((action, f"arn:aws:s3:::{bucket}/{key}"))

    def put_object(self, **kw: Any) -> Any:
        self._object("s3:PutObject", kw["Bucket"], kw["Key"])
        return self.real.put_object(**kw)

    def get_object(self, **kw: Any) -> Any:
        self._object("s3:GetObject", kw["Bucket"], kw["Key"])
        return self.real.get_object(**kw)

    def head_object(self, **kw: Any) -> Any:
        self._object("s3:GetObject", kw["Bucket"], kw["Key"])
        return self.real.head_object(**kw)

    def delete_objects(self, **kw: Any) -> Any:
        for o in kw["Delete"]["Objects"]:
            self._object("s3:DeleteObject", kw["Bucket"], o["Key"])
        return self.real.delete_objects(**kw)

    def delete_object(self, **kw: Any) -> Any:
        self._object("s3:DeleteObject", kw["Bucket"], kw["Key"])
        return self.real.delete_object(**kw)

    def get_paginator(self, name: str) -> Any:
        real = self.real.get_paginator(name)
        recorder = self

        class Paginator:
            def paginate(self, **kw: Any) -> Any:
                recorder.needs.append(("s3:ListBucket", f"arn:aws:s3:::{kw['Bucket']}"))
                return real.paginate(**kw)

        return Paginator()


def test_an_athena_checkpoint_with_retention_needs_only_what_the_athena_users_policy_grants(
    deployed: tuple[Config, LocalRuntime], aws: Clients, moto_server: EmbeddedMoto, make_table: Callable[..., str]
) -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    from dynamo_continuous_backup.athena.restore import checkpoint
    from dynamo_continuous_backup.install.iam import athena_user_policy

    # GIVEN a protected table with a base, retention on, and a change object old enough to prune
    config, runtime = deployed
    config = config.replace(change_retention_days=1)
    make_table("sessions")
    runtime.settle()
    time.sleep(1.0)  # a checkpoint is as of a whole second: one inside the generation, not before it
    aws.dynamodb.put_item(TableName="sessions", Item={"pk": {"S": "s1"}})
    runtime.settle()
    old = "backups/sessions/2020/01/01/00/old-object"
    aws.s3.put_object(Bucket=BUCKET, Key=old, Body=b"{}\n")
    s3 = RecordingS3(aws.s3)
    athena = UnloadingAthena(aws.athena, s3, [{"Item": {"pk": {"S": "s1"}}}])
    canned(moto_server, [], [], [], [("items", "oversize"), ("1", "0")], [])
    clock = FakeTime()
    engine = AthenaEngine(clients_with(aws, athena=athena, s3=s3), config, clock.sleep, clock.clock)
    # WHEN an Athena checkpoint runs as the identity the Athena users' policy describes
    result = checkpoint(engine, "sessions")
    # THEN it pruned (so it wrote under @timelines/ and deleted a change object)...
    assert result.items == 1 and ("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/{old}") in s3.needs
    # ... and every S3 call it made is one that policy allows (IAM's evaluation, as moto does it)
    policy = IAMPolicy(json.dumps(athena_user_policy(config, "123456789012", "us-east-1")))
    refused = [n for n in set(s3.needs) if policy.is_action_permitted(*n) != PermissionResult.PERMITTED]
    assert refused == []
    # AND the grant stays least privilege: no delete of a schema or a timeline fact (bases: retention
    # removes those no promised time uses, as the ensure function's checkpoints do)
    for key in ("@schemas/sessions/schema.json", "@timelines/sessions/x"):
        resource = f"arn:aws:s3:::{BUCKET}/backups/{key}"
        assert policy.is_action_permitted("s3:DeleteObject", resource) == PermissionResult.DENIED
    assert policy.is_action_permitted("s3:PutObject", f"arn:aws:s3:::{BUCKET}/backups/@timelines/x/begin/1.json") == (
        PermissionResult.NEUTRAL
    )


def test_the_latest_state_on_athena_is_counted_and_unloaded_at_one_fixed_time(
    deployed: tuple[Config, LocalRuntime], aws: Clients, moto_server: EmbeddedMoto, make_table: Callable[..., str]
) -> None:
    # GIVEN a protected table with a base
    config, runtime = deployed
    make_table("sessions")
    runtime.settle()
    athena = UnloadingAthena(aws.athena, aws.s3, [{"Item": {"pk": {"S": "s1"}}}])
    canned(moto_server, [], [], [], [("items", "oversize"), ("1", "0")], [])
    clock = FakeTime()
    engine = AthenaEngine(clients_with(aws, athena=athena), config, clock.sleep, clock.clock)
    aws.dynamodb.put_item(TableName="sessions", Item={"pk": {"S": "s1"}})
    runtime.settle()
    # WHEN its latest state is restored on Athena (no --at)
    restore(engine, aws, "sessions", "sessions-r", None, False)
    # THEN the count and the UNLOAD both bound the changes by the same time
    [count] = [q["QueryString"] for q in athena.queries if q["QueryString"].startswith("SELECT count")]
    [unload] = [q["QueryString"] for q in athena.queries if q["QueryString"].startswith("UNLOAD")]
    bound = re.compile(r"ApproximateCreationDateTime <= CAST\('([0-9.e+]+)' AS DOUBLE\)")
    assert bound.findall(count) and bound.findall(count) == bound.findall(unload)


def test_a_base_of_10000_files_is_selected_by_a_query_under_athenas_limit(
    aws: Clients, config: Config, moto_server: EmbeddedMoto
) -> None:
    from dynamo_continuous_backup.core.timeline import Base
    from dynamo_continuous_backup.restore.statesql import state_select

    # GIVEN a base whose manifest lists 10,000 files, in a run folder that also holds the run's
    # documents and a part of an interrupted attempt the manifest does not list
    run = "backups/@snapshots/big/20260101T000000Z-abcdefgh/"
    files = [f"{run}segment-{s:05d}-part-{p:05d}.ndjson.gz" for s in range(100) for p in range(100)]
    manifest = {"runId": "r", "files": [{"key": k} for k in files]}
    aws.s3.put_object(Bucket=BUCKET, Key=f"{run}manifest.json", Body=json.dumps(manifest).encode())
    orphan = f"{run}segment-00000-part-00100.ndjson.gz"
    for key in (files[0], files[-1], orphan, f"{run}run.json", f"{run}checkpoints/segment-00000.json"):
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"")
    canned(moto_server, [], [])
    engine = AthenaEngine(aws, config)
    # WHEN the state query over it is rendered
    base = engine.tables.base(aws, "big", Base("r", "scan", 0.0, 1.0, 10_000, f"{run}manifest.json"))
    sql = state_select("athena", "(SELECT 1) c", base, ("pk",), 2.0, None)
    # THEN it stays far under Athena's 262,144-byte query limit, and selects the listed files only
    assert len(sql.encode()) < 262_144 // 10
    assert f"s3://{BUCKET}/{orphan}" in base and "NOT IN" in base
    sqlglot.parse_one(sql, read="athena")


class RemovingAthena(UnloadingAthena):
    """An UNLOAD during which retention (`retention`) removes the base the query reads."""

    def __init__(self, real: Any, clients: Clients, retention: Config) -> None:
        super().__init__(real, clients.s3, [])
        self.clients, self.retention = clients, retention

    def start_query_execution(self, **request: Any) -> Any:
        if request["QueryString"].startswith("UNLOAD"):
            prune_changes(self.clients, self.retention, "cp", time.time())
        return super().start_query_execution(**request)


def test_an_athena_checkpoint_whose_base_retention_removes_meanwhile_refuses(
    aws: Clients, config: Config, moto_server: EmbeddedMoto, tmp_path: Path
) -> None:
    # GIVEN daily checkpoints (no retention yet) and an Athena checkpoint as of five and a half days ago
    synthesize(aws, "cp", 29)
    aws.s3.put_object(Bucket=BUCKET, Key="backups/@schemas/cp/schema.json", Body=json.dumps(SCHEMA).encode())
    daily_checkpoints(aws, config, tmp_path, days=6)
    athena = RemovingAthena(aws.athena, aws, config.replace(change_retention_days=3))
    canned(moto_server, [], [], [], [("items", "oversize"), ("25", "0")], [])
    engine = AthenaEngine(clients_with(aws, athena=athena), config, FakeTime().sleep, FakeTime().clock)
    # WHEN retention removes its base while Athena reads it (Athena reads what the folder still holds)
    # THEN it refuses, and writes no checkpoint computed from part of a base
    with pytest.raises(UnrestorableError, match="retention removed base .* of cp while this command read it"):
        athena_checkpoint(engine, "cp", float(int(NOW - 5.5 * DAY)))
    assert not [r for r in snapshot_runs(aws) if "-athena-" in r and "manifest.json" in snapshot_runs(aws)[r]]
