"""verify: catches a silent capture gap, and does not cry wolf over changes in flight."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from dynamo_continuous_backup.cli.main import UI, main
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.verify import Verifier


@pytest.fixture
def table(deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str]) -> str:
    _, runtime = deployed
    make_table("accounts", key="id", key_type="S")
    runtime.settle()
    for i in range(40):
        aws.dynamodb.put_item(TableName="accounts", Item={"id": {"S": f"a{i}"}, "balance": {"N": str(i)}})
    runtime.settle()
    return "accounts"


def verifier(aws: Clients, config: Config, tmp_path: Path, wait: object = None) -> Verifier:
    return Verifier(aws, BackupStore(aws, config, tmp_path), sleep=wait or (lambda s: None))  # type: ignore[arg-type]


def test_complete_backups_verify(
    table: str, aws: Clients, deployed: tuple[Config, LocalRuntime], tmp_path: Path
) -> None:
    result = verifier(aws, deployed[0], tmp_path).verify(table)
    assert result.ok and result.live_items == result.backed_up_items == 40
    assert verifier(aws, deployed[0], tmp_path).verify(table, sample=10).ok


def test_a_capture_gap_is_found_and_named(
    table: str, aws: Clients, deployed: tuple[Config, LocalRuntime], tmp_path: Path
) -> None:
    config, runtime = deployed
    # GIVEN capture silently stopped (someone disabled the mapping)
    [mapping] = aws.lambda_.list_event_source_mappings(FunctionName=config.forwarder_function_name)[
        "EventSourceMappings"
    ]
    aws.lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    aws.dynamodb.put_item(TableName="accounts", Item={"id": {"S": "new"}, "balance": {"N": "1"}})
    aws.dynamodb.put_item(TableName="accounts", Item={"id": {"S": "a3"}, "balance": {"N": "999"}})
    aws.dynamodb.delete_item(TableName="accounts", Key={"id": {"S": "a7"}})
    runtime.settle()
    # WHEN a user verifies
    result = verifier(aws, config, tmp_path).verify(table)
    # THEN each kind of difference is counted and named
    assert (result.missing, result.differing, result.extra) == (["id='new'"], ["id='a3'"], ["id='a7'"])
    cfg = tmp_path / "c.json"
    cfg.write_text(config.to_json())
    out = io.StringIO()
    assert main(["verify", "accounts", "--config", str(cfg)], UI(out, out)) == 1
    assert "1 missing" in out.getvalue() and "DIFFERENT" in out.getvalue()


def test_changes_in_flight_are_rechecked_not_reported(
    table: str, aws: Clients, deployed: tuple[Config, LocalRuntime], tmp_path: Path
) -> None:
    config, runtime = deployed
    aws.dynamodb.put_item(TableName="accounts", Item={"id": {"S": "fresh"}, "balance": {"N": "5"}})
    # The write has not reached S3 yet; while verify waits, the runtime delivers it.
    result = verifier(aws, config, tmp_path, wait=lambda s: runtime.settle()).verify(table)
    assert result.ok and result.resolved_in_flight == 1
