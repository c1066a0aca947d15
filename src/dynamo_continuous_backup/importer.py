"""Restore via ImportTable: write the state at T as DynamoDB-JSON files in S3, then let
DynamoDB load them into a new table (no write capacity used; for very large tables)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson
import shortuuid

from .errors import AwsError, UserInputError
from .state import item_digest, table_checksum

if TYPE_CHECKING:
    from .backups import LocalBackups
    from .restore import Restorer, RestoreResult

PART_ITEMS = 100_000


def check_importable(backups: LocalBackups) -> None:
    """Refuse, before anything is uploaded, a schema ImportTable cannot recreate."""
    lsis = [x["IndexName"] for x in (backups.schema or {}).get("LocalSecondaryIndexes") or []]
    if lsis:
        raise UserInputError(
            f"{backups.table} has local secondary indexes ({', '.join(lsis)}), which ImportTable cannot "
            "create; restore without --via-import"
        )


def import_state(
    restorer: Restorer,
    backups: LocalBackups,
    target: str,
    rows: Iterator[tuple[str, str | None, str | None]],
    result: RestoreResult,
    timeout: float = 6 * 3600,
) -> RestoreResult:
    from .restore import table_args

    store = restorer.store
    prefix = (
        f"{store.config.prefix}/@imports/{target}/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-"
        f"{shortuuid.uuid()[:8]}/"
    )
    digests: list[int] = []
    part: list[bytes] = []
    parts = 0

    def flush() -> None:
        nonlocal part, parts
        store.clients.s3.put_object(
            Bucket=store.bucket,
            Key=f"{prefix}data-{parts:05d}.json.gz",
            Body=gzip.compress(b"".join(part), compresslevel=3),
        )
        part, parts = [], parts + 1

    for _, image_text, pointer in rows:
        image = store.image(image_text, pointer)
        digests.append(item_digest(image))
        part.append(orjson.dumps({"Item": image}) + b"\n")
        if len(part) >= PART_ITEMS:
            flush()
    if part or not parts:
        flush()
    result.items, result.puts, result.checksum = len(digests), len(digests), table_checksum(digests)
    assert backups.schema is not None
    args = table_args(backups.schema, target)
    creation = {
        k: v
        for k, v in args.items()
        if k
        in (
            "TableName",
            "AttributeDefinitions",
            "KeySchema",
            "BillingMode",
            "ProvisionedThroughput",
            "GlobalSecondaryIndexes",
        )
    }
    description = restorer.target.dynamodb.import_table(
        S3BucketSource={"S3Bucket": store.bucket, "S3KeyPrefix": prefix},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters=creation,
    )["ImportTableDescription"]
    deadline = time.monotonic() + timeout
    polls = 0
    while description["ImportStatus"] in ("IN_PROGRESS", "CANCELLING"):
        if time.monotonic() > deadline:
            raise AwsError(f"import into {target} still running after {timeout:.0f}s: {description['ImportArn']}")
        restorer.sleep(min(30.0, 0.5 * 2**polls))
        polls += 1
        description = restorer.target.dynamodb.describe_import(ImportArn=description["ImportArn"])[
            "ImportTableDescription"
        ]
    if description["ImportStatus"] != "COMPLETED":
        raise AwsError(
            f"import into {target} ended {description['ImportStatus']}: "
            f"{description.get('FailureCode')}: {description.get('FailureMessage')}"
        )
    result.notes.append(f"imported from s3://{store.bucket}/{prefix} ({parts} file(s))")
    restorer.apply_ttl(backups.schema, target, result)
    restorer._verify(target, result)
    return result
