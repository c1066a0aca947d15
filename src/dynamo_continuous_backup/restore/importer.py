"""Restore via ImportTable: write the state at T as DynamoDB-JSON files in S3, then let
DynamoDB load them into a new table (no write capacity used; for very large tables)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import shortuuid

from ..core.aws import Clients
from ..core.config import Config
from ..core.errors import AwsError, UserInputError
from ..core.retry import wait_until
from ..core.schema import table_args
from .state import item_digest, table_checksum

if TYPE_CHECKING:
    from .backups import BackupStore, LocalBackups

PART_ITEMS = 100_000
# An import takes minutes to hours: poll after 0.5 s, doubling up to every 30 s.
POLL_FIRST = 0.5
POLL_MAX = 30.0
RUNNING = ("IN_PROGRESS", "CANCELLING")


def check_importable(backups: LocalBackups) -> None:
    """Refuse, before anything is uploaded, a schema ImportTable cannot recreate."""
    lsis = [x["IndexName"] for x in (backups.schema or {}).get("LocalSecondaryIndexes") or []]
    if lsis:
        raise UserInputError(
            f"{backups.table} has local secondary indexes ({', '.join(lsis)}), which ImportTable cannot "
            "create; restore without --via-import"
        )


@dataclass(frozen=True)
class Imported:
    items: int
    checksum: str
    note: str


def import_state(
    target_clients: Clients,
    store: BackupStore,
    schema: dict[str, Any],
    target: str,
    rows: Iterator[tuple[str, str | None, str | None]],
    sleep: Callable[[float], None],
    timeout: float = 6 * 3600,
    clock: Callable[[], float] = time.monotonic,
) -> Imported:
    """Upload the state as ImportTable input under the table's @imports/ prefix, import it into
    a new table `target` and wait for the import to end."""
    prefix = import_prefix(store.config, target)
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
    run_import(target_clients, store.bucket, prefix, schema, target, sleep, timeout, clock)
    return Imported(
        len(digests), table_checksum(digests), f"imported from s3://{store.bucket}/{prefix} ({parts} file(s))"
    )


def import_prefix(config: Config, target: str) -> str:
    """A new folder for one import's input under `@imports/TARGET/` (ImportTable reads a whole prefix)."""
    return f"{config.prefix}/@imports/{target}/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{shortuuid.uuid()[:8]}/"


def run_import(
    target_clients: Clients,
    bucket: str,
    prefix: str,
    schema: dict[str, Any],
    target: str,
    sleep: Callable[[float], None],
    timeout: float = 6 * 3600,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """ImportTable of the gzip DynamoDB-JSON files under `prefix` into a new table `target` from
    the saved schema; waits for it to end and returns its description (an import that did not
    complete raises)."""
    args = table_args(schema, target)
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
    description = target_clients.dynamodb.import_table(
        S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": prefix},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters=creation,
    )["ImportTableDescription"]
    if description["ImportStatus"] in RUNNING:
        arn = description["ImportArn"]

        def finished() -> dict[str, Any] | None:
            now = target_clients.dynamodb.describe_import(ImportArn=arn)["ImportTableDescription"]
            return None if now["ImportStatus"] in RUNNING else now  # type: ignore[no-any-return]

        what = f"the import into {target} ({arn})"
        description = wait_until(finished, what, timeout, POLL_FIRST, sleep, clock, max_interval=POLL_MAX)
    if description["ImportStatus"] != "COMPLETED":
        raise AwsError(
            f"import into {target} ended {description['ImportStatus']}: "
            f"{description.get('FailureCode')}: {description.get('FailureMessage')}"
        )
    return description  # type: ignore[no-any-return]
