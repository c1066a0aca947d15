"""Restore via ImportTable against in-memory S3 and DynamoDB: what is uploaded, what is
imported, and the refusals."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import AwsError, UserInputError
from dynamo_continuous_backup.restore import importer
from dynamo_continuous_backup.restore.backups import BackupStore, LocalBackups
from dynamo_continuous_backup.restore.state import item_digest, table_checksum

from ..fakes import FakeS3, ImportingDynamo, clients_with
from ..helpers import BUCKET

SCHEMA: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
}
LSI = {
    "IndexName": "by-time",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
    "Projection": {"ProjectionType": "KEYS_ONLY"},
}


def images(n: int) -> list[dict[str, Any]]:
    return [{"pk": {"S": f"k{i}"}, "b": {"B": "AP8="}, "n": {"N": str(i)}} for i in range(n)]


def rows(items: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    """State rows as the state query yields them: key text, image text, oversize pointer."""
    return [(item["pk"]["S"], orjson.dumps(item).decode(), None) for item in items]


def run_import(
    tmp_path: Path, state: list[tuple[str, str | None, str | None]], dynamo: ImportingDynamo, s3: FakeS3
) -> tuple[importer.Imported, list[float]]:
    clients = clients_with(s3=s3, dynamodb=dynamo)
    config = Config(firehose_delivery_bucket=BUCKET, firehose_delivery_prefix="backups")
    store = BackupStore(clients, config, tmp_path)
    sleeps: list[float] = []
    done = importer.import_state(clients, store, SCHEMA, "orders-r", iter(state), sleeps.append)
    return done, sleeps


def uploaded(s3: FakeS3) -> dict[str, list[dict[str, Any]]]:
    """Each file uploaded for ImportTable: its lines, by object key."""
    imports = {key: body for key, body in s3.objects.items() if "/@imports/" in key}
    return {key: [json.loads(line) for line in gzip.decompress(body).splitlines()] for key, body in imports.items()}


def test_check_importable_refuses_local_secondary_indexes() -> None:
    importer.check_importable(LocalBackups("threads", schema=SCHEMA))  # no LSI: fine
    with pytest.raises(UserInputError, match=r"local secondary indexes \(by-time\).*restore without --via-import"):
        importer.check_importable(LocalBackups("threads", schema={**SCHEMA, "LocalSecondaryIndexes": [LSI]}))


def test_the_state_is_uploaded_as_gzip_dynamodb_json_parts_and_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN parts of at most 2 items, and 5 items to import
    monkeypatch.setattr(importer, "PART_ITEMS", 2)
    s3, dynamo = FakeS3(), ImportingDynamo(polls=3)
    items = images(5)
    # WHEN the state is imported
    done, sleeps = run_import(tmp_path, rows(items), dynamo, s3)
    # THEN three gzip files of DynamoDB JSON lines {"Item": ...} hold every item, in order
    files = uploaded(s3)
    assert [len(lines) for _, lines in sorted(files.items())] == [2, 2, 1]
    assert [line for _, lines in sorted(files.items()) for line in lines] == [{"Item": i} for i in items]
    # AND one import reads them all from their common prefix, into a new table of the saved schema
    [request] = dynamo.imports
    prefix = request["S3BucketSource"]["S3KeyPrefix"]
    assert request["S3BucketSource"]["S3Bucket"] == BUCKET and prefix.startswith("backups/@imports/orders-r/")
    assert all(key.startswith(prefix) and key.endswith(".json.gz") for key in files)
    assert (request["InputFormat"], request["InputCompressionType"]) == ("DYNAMODB_JSON", "GZIP")
    creation = request["TableCreationParameters"]
    assert creation["TableName"] == "orders-r" and creation["KeySchema"] == SCHEMA["KeySchema"]
    # AND the result counts and checksums what was imported, after waits through the injected sleep
    assert done.items == 5 and done.checksum == table_checksum(item_digest(i) for i in items)
    assert "3 file(s)" in done.note and 0 < len(sleeps) <= 3 and all(0 < s <= 60 for s in sleeps)


def test_an_oversize_item_is_read_from_its_full_record(tmp_path: Path) -> None:
    s3 = FakeS3()
    big = {"pk": {"S": "big"}, "blob": {"S": "x" * 2000}}
    s3.objects["backups/@oversize/t/1"] = orjson.dumps({"NewImage": big}) + b"\n"
    done, _ = run_import(tmp_path, [("big", None, "backups/@oversize/t/1")], ImportingDynamo(), s3)
    assert done.items == 1
    assert list(uploaded(s3).values()) == [[{"Item": big}]]


def test_an_empty_state_still_uploads_one_file(tmp_path: Path) -> None:
    s3 = FakeS3()
    done, _ = run_import(tmp_path, [], ImportingDynamo(), s3)
    assert done.items == 0 and list(uploaded(s3).values()) == [[]]


def test_a_failed_import_raises_naming_its_failure_code(tmp_path: Path) -> None:
    dynamo = ImportingDynamo(status="FAILED", failure=("ItemValidationError", "some items were invalid"))
    with pytest.raises(AwsError, match="FAILED: ItemValidationError: some items were invalid"):
        run_import(tmp_path, rows(images(3)), dynamo, FakeS3())
