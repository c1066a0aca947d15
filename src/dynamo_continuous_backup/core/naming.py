"""Deterministic names: delivery streams, S3 prefixes, ownership tags, ARN parsing."""

from __future__ import annotations

import hashlib
import re
from typing import Any

MAX_DELIVERY_STREAM_NAME = 64
HASH_CHARS = 10
TAG_TABLE = "dynamo-continuous-backup:table"
TAG_OWNER = "dynamo-continuous-backup:managed-by"
OWNER = "dynamo-continuous-backup"
TAG_DRAINING = "dynamo-continuous-backup:draining-since"
# '@' never occurs in a DynamoDB table name, so these prefixes cannot collide with a table's.
SNAPSHOTS = "@snapshots"
SCHEMAS = "@schemas"
TIMELINES = "@timelines"
OVERSIZE = "@oversize"
ERRORS = "@errors"


def delivery_stream_name(table: str) -> str:
    """The table name when it fits; else a prefix plus a hash of the full name."""
    if len(table) <= MAX_DELIVERY_STREAM_NAME:
        return table
    digest = hashlib.sha256(table.encode()).hexdigest()[:HASH_CHARS]
    return f"{table[: MAX_DELIVERY_STREAM_NAME - HASH_CHARS - 1]}-{digest}"


def table_from_arn(arn: str) -> str:
    """Table name from a table or stream ARN (`...:table/NAME[/stream/LABEL]`)."""
    _, sep, rest = arn.partition(":table/")
    if not sep:
        raise ValueError(f"not a DynamoDB table or stream ARN: {arn!r}")
    return rest.split("/", 1)[0]


def stream_label(stream_arn: str) -> str:
    """The label that ends a stream ARN (`.../stream/2026-11-23T10:00:00.123`): its generation."""
    _, sep, label = stream_arn.rpartition("/stream/")
    return label if sep else ""


def table_name(value: str) -> str:
    """Accept a table name or a table ARN, as DynamoDB's APIs do."""
    return table_from_arn(value) if value.startswith("arn:") else value


def changes_prefix(prefix: str, table: str) -> str:
    return f"{prefix}/{table}/"


# The multi-tenant layout (config `tenantAttribute`): PREFIX/TABLE/tenant=VALUE/YYYY/MM/DD/HH/.
# Table names are [a-zA-Z0-9_.-], so no table's own prefix can look like `TABLE/tenant=...`, and
# 't' sorts after every digit, so a table's tenant folders all list after its YYYY/ hours.
TENANT_SEGMENT = "tenant="
NO_TENANT = "__none__"  # the item lacks the attribute, or it is not of type S or N
BAD_TENANT = "__invalid__"  # a value that is not a safe S3 key segment (see TENANT_VALUE)
TENANT_VALUE = r"[A-Za-z0-9_.-]{1,128}"  # what a tenant value must be to get its own folder


def tenant_of(image: dict[str, Any] | None, attribute: str) -> str:
    """The tenant folder an item image belongs in, as the delivery stream's JQ query decides it
    (provisioning/destination.py): its S or N value, NO_TENANT, or BAD_TENANT if unsafe."""
    value = (image or {}).get(attribute)
    text = value.get("S", value.get("N")) if isinstance(value, dict) else None
    if not isinstance(text, str):
        return NO_TENANT
    return text if re.fullmatch(TENANT_VALUE, text) else BAD_TENANT


def tenant_prefix(prefix: str, table: str, tenant: str) -> str:
    """Where one tenant's changes live in the multi-tenant layout."""
    return f"{changes_prefix(prefix, table)}{TENANT_SEGMENT}{tenant}/"


def errors_prefix(prefix: str, table: str) -> str:
    return f"{prefix}/{ERRORS}/{table}/"


def snapshots_prefix(prefix: str, table: str) -> str:
    return f"{prefix}/{SNAPSHOTS}/{table}/"


def timelines_prefix(prefix: str, table: str) -> str:
    """Where the facts of a table's timeline live (core/timeline_store.py)."""
    return f"{prefix}/{TIMELINES}/{table}/"


def schema_key(prefix: str, table: str) -> str:
    return f"{prefix}/{SCHEMAS}/{table}/schema.json"


def oversize_key(prefix: str, table: str, sequence_number: str, event_id: str) -> str:
    return f"{prefix}/{OVERSIZE}/{table}/{sequence_number}-{event_id}.json"


def ownership_tags(table: str) -> list[dict[str, str]]:
    return [{"Key": TAG_TABLE, "Value": table}, {"Key": TAG_OWNER, "Value": OWNER}]


def owned_table(tags: list[dict[str, str]]) -> str | None:
    """The full table name a resource's tags say it belongs to, if the resource is ours."""
    found = {t["Key"]: t["Value"] for t in tags}
    return found.get(TAG_TABLE) if found.get(TAG_OWNER) == OWNER else None


# The lifecycle rule deploy sets on the backup prefix (install/spec.lifecycle_rule; status checks it).
LIFECYCLE_RULE_ID = "dynamo-backup-free-deleted-objects"
# How long that rule keeps a deleted object's old versions: a week to recover a mistaken delete.
NONCURRENT_DAYS = 7
