"""Shared fixtures: one embedded moto server per session, started only for the tests that ask
for it and reset before each; one Lambda code zip per session, so that no test runs pip."""

from __future__ import annotations

import atexit
import gc
import io
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.install import packaging
from dynamo_continuous_backup.install.deployer import Deployer
from dynamo_continuous_backup.local.emulator import FAKE_ENV, EmbeddedMoto

from .helpers import BUCKET, REGION, one_module_zip

# Never let a test reach a real account, whatever the developer's shell exports.
os.environ.update(FAKE_ENV)
os.environ.pop("AWS_PROFILE", None)
# At exit (after pytest's own last collection), the interpreter's final garbage collections would
# walk the whole session's heap only to free it: the pytest process took seconds to end after its
# summary. Freezing it leaves the freeing to the operating system.
atexit.register(gc.freeze)


class NoPip:
    """`subprocess` as packaging.fetch_wheels sees it in the tests: running pip fails the test."""

    SubprocessError = subprocess.SubprocessError

    @staticmethod
    def run(cmd: list[str], **_: Any) -> None:
        pytest.fail(
            f"a test ran pip download ({' '.join(cmd[3:])}): deploy takes the `lambda_zip` fixture's zip; "
            "a test needing the wheels reads packaging.CACHE, which `make` fills",
            pytrace=False,
        )


@pytest.fixture(scope="session", autouse=True)
def lambda_zip() -> Iterator[bytes]:
    """The code zip every deploy of the session uploads, built once from the wheels the Makefile
    fetched into packaging.CACHE (none when it is empty: the handlers then use the stdlib json)."""
    wheels = sorted((packaging.CACHE / "x86_64").glob("*.whl"))
    code = packaging.build_zip(wheels)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Deployer, "prebuilt_code", code)
        mp.setattr(packaging, "subprocess", NoPip)  # only tests/unit/test_packaging.py fakes a pip
        yield code


@pytest.fixture(scope="session")
def moto_server() -> Iterator[EmbeddedMoto]:
    server = EmbeddedMoto().start()
    os.environ.update(server.environment(REGION))
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server: EmbeddedMoto) -> Clients:
    moto_server.reset()
    return Clients(REGION)


@pytest.fixture
def config(aws: Clients) -> Config:
    """A bucket, a Firehose role and a forwarder function, as deploy.py would leave them."""
    aws.s3.create_bucket(Bucket=BUCKET)
    role = aws.iam.create_role(RoleName="dynamo-backup-firehose", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    fn_role = aws.iam.create_role(RoleName="dynamo-backup-forwarder", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    cfg = Config(
        firehose_delivery_bucket=BUCKET,
        region=REGION,
        firehose_delivery_prefix="backups",
        firehose_delivery_interval_seconds=0,
        streams_batching_window_seconds=0,  # the runtime invokes at once: tests never wait for a window
        drain_seconds=0,
        wait_timeout_seconds=10,
    )
    aws.lambda_.create_function(
        FunctionName=cfg.forwarder_function_name,
        Runtime="python3.12",
        Role=fn_role,
        Handler="noop.handler",
        Code={"ZipFile": one_module_zip("noop", "def handler(event, context):\n    return {}\n")},
    )
    assert role
    return cfg


@pytest.fixture
def make_table(aws: Clients) -> Callable[..., str]:
    def make(
        name: str, stream: str | None = None, range_key: bool = False, key: str = "pk", key_type: str = "S"
    ) -> str:
        keys = [{"AttributeName": key, "KeyType": "HASH"}]
        attrs = [{"AttributeName": key, "AttributeType": key_type}]
        if range_key:
            keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
            attrs.append({"AttributeName": "sk", "AttributeType": "N"})
        extra: dict[str, Any] = {}
        if stream:
            extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
        aws.dynamodb.create_table(
            TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST", **extra
        )
        return name

    return make


@pytest.fixture
def deployed(aws: Clients, tmp_path: Path) -> Iterator[tuple[Config, Any]]:
    """deploy.py run against the emulator, and a local runtime driving it (synchronously)."""
    from dynamo_continuous_backup.cli.main import UI, main
    from dynamo_continuous_backup.core.config import load_config
    from dynamo_continuous_backup.local import LocalRuntime

    path = tmp_path / "config.hjson"
    path.write_text(
        json.dumps(
            {
                "firehoseDeliveryBucket": BUCKET,
                "firehoseDeliveryPrefix": "backups",
                "firehoseDeliveryIntervalSeconds": 0,
                "streamsBatchingWindowSeconds": 0,
                "drainSeconds": 1,
                "region": REGION,
                "tableNameExcludeRegex": "scratch-.*",
            }
        )
    )
    out = io.StringIO()
    assert main(["deploy", "--config", str(path)], UI(out, out)) == 0, out.getvalue()
    runtime = LocalRuntime(aws)
    yield load_config(path), runtime


@pytest.fixture
def config_path(deployed: tuple[Config, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The deployed config's file, for CLI commands; their backup cache is the test's own."""
    monkeypatch.setenv("DCB_CACHE_DIR", str(tmp_path / "cache"))
    return str(tmp_path / "config.hjson")
