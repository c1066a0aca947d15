"""Multi-tenant layout, the pure parts: config, the delivery stream's destination, the emulator's
evaluator of the JQ query (tests/integration/test_tenants.py checks it against the real jq)."""

from __future__ import annotations

from typing import Any

import pytest

from dynamo_continuous_backup.core import naming
from dynamo_continuous_backup.core.config import Config, config_from_mapping
from dynamo_continuous_backup.core.errors import ConfigError
from dynamo_continuous_backup.local.firehose_partitioning import (
    UnsupportedPartitioning,
    parse_query,
    partition_records,
    render_prefix,
)
from dynamo_continuous_backup.provisioning.destination import s3_destination, tenant_query

ROLE = "arn:aws:iam::123456789012:role/fh"
NOON = 1767268800.0  # 2026-01-01T12:00:00Z

RECORDS: list[tuple[dict[str, Any], str]] = [
    ({"NewImage": {"tenant-id": {"S": "acme"}}, "OldImage": {"tenant-id": {"S": "old"}}}, "acme"),
    ({"OldImage": {"tenant-id": {"N": "-12.5"}}}, "-12.5"),  # a REMOVE: the old image names it
    ({"Keys": {"tenant-id": {"S": "k1"}}, "oversizeS3Key": "x"}, "k1"),  # a pointer line: only keys
    ({"NewImage": {"other": {"S": "x"}}}, naming.NO_TENANT),
    ({"NewImage": {"tenant-id": {"BOOL": True}}}, naming.NO_TENANT),  # neither S nor N
    ({"NewImage": {"tenant-id": {"S": "a/b"}}}, naming.BAD_TENANT),  # would split the key
    ({"NewImage": {"tenant-id": {"S": "acme\n"}}}, naming.BAD_TENANT),  # ^...$ would pass this one
    ({"NewImage": {"tenant-id": {"S": ""}}}, naming.BAD_TENANT),
    ({"NewImage": {"tenant-id": {"S": "x" * 129}}}, naming.BAD_TENANT),
    ({}, naming.NO_TENANT),
]


def config(**extra: Any) -> Config:
    return config_from_mapping({"firehoseDeliveryBucket": "b", "firehoseDeliveryPrefix": "p", **extra})


def test_tenant_attribute_is_validated_in_one_line() -> None:
    assert config(tenantAttribute="tenant-id.v2").tenant_attribute == "tenant-id.v2"
    assert config().tenant_attribute is None
    with pytest.raises(ConfigError, match="'tenantAttribute' must be a top-level attribute name"):
        config(tenantAttribute='a"b')
    with pytest.raises(ConfigError, match="at least 64 MB and 60 s.*now 64 MB, 0 s"):
        config(tenantAttribute="t", firehoseDeliveryIntervalSeconds=0)
    with pytest.raises(ConfigError, match="firehoseDeliverySizeMB >= 64"):
        config(tenantAttribute="t", firehoseDeliverySizeMB=5)
    config(firehoseDeliveryIntervalSeconds=0)  # without tenants, zero buffering stays allowed


def test_flat_destination_is_unchanged() -> None:
    dest = s3_destination(config(), "orders", ROLE)
    assert dest["Prefix"] == "p/orders/" and dest["ErrorOutputPrefix"] == "p/@errors/orders/"
    assert "DynamicPartitioningConfiguration" not in dest and "ProcessingConfiguration" not in dest


def test_tenant_destination_partitions_by_the_query() -> None:
    dest = s3_destination(config(tenantAttribute="tenant-id"), "orders", ROLE)
    assert dest["Prefix"] == "p/orders/tenant=!{partitionKeyFromQuery:tenant}/!{timestamp:yyyy/MM/dd/HH}/"
    assert dest["ErrorOutputPrefix"] == "p/@errors/orders/!{firehose:error-output-type}/"
    assert dest["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert dest["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 60}
    [processor] = dest["ProcessingConfiguration"]["Processors"]
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert processor["Type"] == "MetadataExtraction" and params["JsonParsingEngine"] == "JQ-1.6"
    assert params["MetadataExtractionQuery"] == tenant_query("tenant-id")


@pytest.mark.parametrize(("record", "tenant"), RECORDS)
def test_evaluator_files_each_record_as_the_query_says(record: dict[str, Any], tenant: str) -> None:
    assert parse_query(tenant_query("tenant-id")).evaluate(record) == {"tenant": tenant}
    # the readers' own rule agrees with the query for every state image
    if "NewImage" in record:
        assert naming.tenant_of(record["NewImage"], "tenant-id") == tenant


@pytest.mark.parametrize(
    "query",
    [
        "{tenant: .NewImage.t.S}",  # another form, however plausible
        '{tenant: ((.NewImage.t.S | ascii_downcase // "__none__") | if test("\\\\A[a-z]\\\\z") '
        'then . else "__invalid__" end)}',
        '{tenant: ((.NewImage.t.S // "x" // .OldImage.t.S) | if test("\\\\A[a-z]\\\\z") then . else "b" end)}',
        '{tenant: ((.NewImage.t.S // "x") | if test("^[a-z]$") then . else "b" end)}',  # line anchors
    ],
)
def test_evaluator_refuses_any_other_query(query: str) -> None:
    with pytest.raises(UnsupportedPartitioning):
        parse_query(query)


def test_records_are_grouped_under_rendered_prefixes() -> None:
    dest = s3_destination(config(tenantAttribute="t"), "orders", ROLE)
    records = [
        b'{"NewImage":{"t":{"S":"acme"}}}\n',
        b'{"NewImage":{"t":{"S":"globex"}}}\n',
        b"not json\n",
        b'{"OldImage":{"t":{"S":"acme"}}}\n',
    ]
    assert partition_records(dest, records, NOON) == {
        "p/orders/tenant=acme/2026/01/01/12/": [0, 3],
        "p/orders/tenant=globex/2026/01/01/12/": [1],
        "p/@errors/orders/processing-failed/": [2],
    }


def test_unsupported_prefix_expressions_are_refused_loudly() -> None:
    assert render_prefix("a/!{timestamp:yyyy-MM}/", {}, NOON) == "a/2026-01/"
    for template in ("a/!{partitionKeyFromLambda:t}/", "a/!{timestamp:yyyy 'h'}/", "a/!{firehose:random-string}/"):
        with pytest.raises(UnsupportedPartitioning):
            render_prefix(template, {"t": "x"}, NOON)
    dest = {**s3_destination(config(tenantAttribute="t"), "o", ROLE), "Prefix": "o/!{partitionKeyFromLambda:t}/"}
    with pytest.raises(UnsupportedPartitioning):  # refused before any record is filed, not sent to errors
        partition_records(dest, [b'{"NewImage":{"t":{"S":"a"}}}'], NOON)
