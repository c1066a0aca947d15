"""The functions run where Lambda runs them: the deployed zip in Python 3.12 with boto3 only."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.install.packaging import build_zip
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.local.lambda_python import lambda_python
from dynamo_continuous_backup.local.workers import FunctionError

from ..helpers import BUCKET, one_module_zip
from ..importgraph import PACKAGE, reachable_modules


def test_every_module_the_handlers_reach_imports_in_lambdas_python(tmp_path: Path, lambda_zip: bytes) -> None:
    # GIVEN the zip deploy uploads (with the cached wheels), unpacked as Lambda unpacks it into /var/task
    with zipfile.ZipFile(io.BytesIO(lambda_zip)) as z:
        z.extractall(tmp_path)
    modules = sorted(reachable_modules())
    assert f"{PACKAGE}.snapshot.backfill" in modules  # the first snapshot is reached from the ensure handler
    # WHEN Lambda's Python 3.12 with boto3 only imports every one of them
    script = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "failed = {}\n"
        f"for m in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except Exception as exc:\n"
        "        failed[m] = repr(exc)\n"
        "cli_only = [m for m in ('shortuuid', 'duckdb', 'tqdm') if m in sys.modules]\n"
        "print(json.dumps({'failed': failed, 'cli_only': cli_only, 'version': sys.version_info[:2]}))\n"
    )
    answer = subprocess.run([lambda_python(), "-I", "-c", script], capture_output=True, text=True, timeout=120)
    # THEN all import, and none pulled in a CLI-only dependency
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    assert report == {"failed": {}, "cli_only": [], "version": [3, 12]}


def test_lambdas_python_has_no_cli_dependencies() -> None:
    for package in ("shortuuid", "duckdb", "tqdm", "orjson", "hjson", "moto", PACKAGE):
        answer = subprocess.run([lambda_python(), "-I", "-c", f"import {package}"], capture_output=True, timeout=60)
        assert answer.returncode != 0, f"{package} is importable in the Lambda Python"


def test_reconcile_in_a_lambda_worker_snapshots_a_table_holding_items(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str]
) -> None:
    # GIVEN a table with items whose CreateTable event was missed
    config, _ = deployed
    make_table("legacy")
    for i in range(25):
        aws.dynamodb.put_item(TableName="legacy", Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
    runtime = LocalRuntime(aws)
    # WHEN the hourly reconcile runs in the function's worker
    assert runtime.fire_schedules(force=True) == 1
    # THEN the table is protected and its snapshot holds every item
    assert ("dynamo-backup-ensure", "Scheduled Event") in runtime.invocations
    manifests = [
        o["Key"]
        for o in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{config.prefix}/@snapshots/legacy/").get("Contents", [])
        if o["Key"].endswith("/manifest.json")
    ]
    assert len(manifests) == 1
    manifest = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=manifests[0])["Body"].read())
    assert manifest["items"] == 25


def _function(aws: Clients, name: str, source: str, timeout: int = 3, env: dict[str, str] | None = None) -> None:
    role = aws.iam.create_role(RoleName=f"r-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    aws.lambda_.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": one_module_zip("app", source)},
        Timeout=timeout,
        Environment={"Variables": env or {}},
    )


def test_worker_has_the_functions_environment_only_and_stays_warm(
    aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a developer's variable in the test's environment and a function reporting what it sees
    monkeypatch.setenv("DCB_SECRET_OF_THE_DEVELOPER", "x")
    source = (
        "import os, sys\n"
        "def handler(event, context):\n"
        "    env = os.environ\n"
        "    return {'pid': os.getpid(), 'mine': env.get('MINE'), 'dev': env.get('DCB_SECRET_OF_THE_DEVELOPER'),"
        " 'python': list(sys.version_info[:2]), 'left': context.get_remaining_time_in_millis(), 'echo': event}\n"
    )
    _function(aws, "envcheck", source, timeout=7, env={"MINE": "yes"})
    # WHEN the local runtime invokes it twice
    runtime = LocalRuntime(aws)
    first = runtime.invoke("envcheck", {"n": 1})
    second = runtime.invoke("envcheck", {"n": 2})
    # THEN it saw its own environment only, Python 3.12 and its time left, in one warm process
    assert first["mine"] == "yes" and first["dev"] is None and first["python"] == [3, 12]
    assert first["echo"] == {"n": 1} and 0 < first["left"] <= 7000
    assert second["pid"] == first["pid"]  # warm: the same execution environment


def test_a_function_that_overruns_its_timeout_is_killed_and_fails(aws: Clients) -> None:
    _function(
        aws,
        "slow",
        "import os, time\ndef handler(event, context):\n    time.sleep(event['s'])\n    return os.getpid()\n",
        1,
    )
    runtime = LocalRuntime(aws)
    started = time.monotonic()
    with pytest.raises(FunctionError, match="timed out"):
        runtime.invoke("slow", {"s": 30})
    assert time.monotonic() - started < 15  # killed, not waited out
    # a fresh environment serves the next invocation
    assert isinstance(runtime.invoke("slow", {"s": 0}), int)


def test_a_function_importing_a_package_its_zip_lacks_fails_as_in_lambda(aws: Clients) -> None:
    assert "shortuuid" in sys.modules or __import__("shortuuid")  # the developer has it
    _function(aws, "needs-shortuuid", "import shortuuid\ndef handler(event, context):\n    return shortuuid.uuid()\n")
    with pytest.raises(FunctionError, match="ImportModuleError"):
        LocalRuntime(aws).invoke("needs-shortuuid", {})


def test_without_the_orjson_wheel_the_handlers_fall_back_to_the_stdlib(tmp_path: Path) -> None:
    # GIVEN a zip built where the wheels could not be fetched (offline)
    with zipfile.ZipFile(io.BytesIO(build_zip([]))) as z:
        z.extractall(tmp_path)
    script = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        f"import {PACKAGE}.forwarder, {PACKAGE}.ensure_backup\n"
        f"from {PACKAGE}.core.records import dumps, loads\n"
        "assert 'orjson' not in sys.modules\n"
        "print(loads(dumps({'k': {'B': b'\\x00\\xff'}, 'n': {'N': '1'}, 't': 'é'})))\n"
    )
    # WHEN Lambda's Python imports the handlers and encodes a record with binary values
    answer = subprocess.run([lambda_python(), "-I", "-c", script], capture_output=True, text=True, timeout=60)
    # THEN the stdlib json does the job, binary as base64 as in stream images
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "{'k': {'B': 'AP8='}, 'n': {'N': '1'}, 't': 'é'}"
