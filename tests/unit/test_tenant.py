"""Multi-tenant layout, the pure parts: config, the delivery stream's destination, the emulator's
evaluator of the JQ query (tests/integration/test_tenants.py checks it against the real jq)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynamo_continuous_backup.core import naming
from dynamo_continuous_backup.core.config import Config, config_from_mapping
from dynamo_continuous_backup.core.errors import ConfigError
from dynamo_continuous_backup.local.firehose_partitioning import (
    MAX_SUB_RECORDS,
    UnsupportedPartitioning,
    parse_query,
    partition_records,
    render_prefix,
    split_json,
)
from dynamo_continuous_backup.provisioning.destination import (
    processing_differs,
    s3_destination,
    tenant_processing,
    tenant_query,
)

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
    # aggregated records are split into their JSON objects first, and each ends with a newline again
    deaggregate, processor, delimiter = dest["ProcessingConfiguration"]["Processors"]
    assert deaggregate == {
        "Type": "RecordDeAggregation",
        "Parameters": [{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}],
    }
    assert delimiter == {"Type": "AppendDelimiterToRecord"}
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
        "p/orders/tenant=acme/2026/01/01/12/": [
            b'{"NewImage":{"t":{"S":"acme"}}}\n',
            b'{"OldImage":{"t":{"S":"acme"}}}\n',
        ],
        "p/orders/tenant=globex/2026/01/01/12/": [b'{"NewImage":{"t":{"S":"globex"}}}\n'],
        "p/@errors/orders/processing-failed/": [b"not json\n"],
    }


def test_an_aggregated_record_is_partitioned_one_change_at_a_time() -> None:
    # GIVEN one Firehose record holding three change lines of two tenants (as the forwarder sends them)
    dest = s3_destination(config(tenantAttribute="t"), "orders", ROLE)
    lines = [
        b'{"NewImage":{"t":{"S":"acme"}},"v":1}\n',
        b'{"NewImage":{"t":{"S":"globex"}}}\n',
        b'{"OldImage":{"t":{"S":"acme"}}}\n',
    ]
    # THEN each tenant's folder gets its own lines, byte for byte, in order
    assert partition_records(dest, [b"".join(lines)], NOON) == {
        "p/orders/tenant=acme/2026/01/01/12/": [lines[0], lines[2]],
        "p/orders/tenant=globex/2026/01/01/12/": [lines[1]],
    }


def test_json_deaggregation_follows_the_documented_rules() -> None:
    # JSONL and back-to-back objects are both split; an array or text between objects is not JSON objects
    assert split_json(b'{"a":1}\n{"a":2}\n') == [b'{"a":1}', b'{"a":2}']
    assert split_json(b'{"a":1}{"a":2}') == [b'{"a":1}', b'{"a":2}']
    for bad in (b'[{"a":1},{"a":2}]', b'{"a":1} x {"a":2}', b"1\n"):
        with pytest.raises(ValueError):
            split_json(bad)
    # past the 500-object cap the whole record goes to the error prefix (AWS leaves it undocumented)
    dest = s3_destination(config(tenantAttribute="t"), "orders", ROLE)
    record = b'{"NewImage":{"t":{"S":"acme"}}}\n' * (MAX_SUB_RECORDS + 1)
    assert partition_records(dest, [record], NOON) == {"p/@errors/orders/processing-failed/": [record]}
    at_cap = b'{"NewImage":{"t":{"S":"acme"}}}\n' * MAX_SUB_RECORDS
    assert partition_records(dest, [at_cap], NOON) == {
        "p/orders/tenant=acme/2026/01/01/12/": at_cap.splitlines(keepends=True)
    }


def test_without_deaggregation_an_aggregated_record_fails_and_without_a_delimiter_lines_run_together() -> None:
    dest = s3_destination(config(tenantAttribute="t"), "orders", ROLE)
    processors = dest["ProcessingConfiguration"]["Processors"]
    two = b'{"NewImage":{"t":{"S":"a"}}}\n{"NewImage":{"t":{"S":"a"}}}\n'
    no_split = {**dest, "ProcessingConfiguration": {"Enabled": True, "Processors": processors[1:]}}
    assert list(partition_records(no_split, [two], NOON)) == ["p/@errors/orders/processing-failed/"]
    no_newline = {**dest, "ProcessingConfiguration": {"Enabled": True, "Processors": processors[:2]}}
    assert partition_records(no_newline, [two], NOON) == {"p/orders/tenant=a/2026/01/01/12/": [two.splitlines()[0]] * 2}


def test_processing_differs_ignores_empty_parameters_only() -> None:
    wanted = tenant_processing("t")
    assert not processing_differs(json.loads(json.dumps(wanted)), wanted)
    described = {**wanted, "Processors": [{**p, "Parameters": p.get("Parameters", [])} for p in wanted["Processors"]]}
    assert not processing_differs(described, wanted)
    assert processing_differs({"Enabled": True, "Processors": wanted["Processors"][1:2]}, wanted)
    assert processing_differs({}, wanted) and processing_differs(None, wanted)


def test_unsupported_prefix_expressions_are_refused_loudly() -> None:
    assert render_prefix("a/!{timestamp:yyyy-MM}/", {}, NOON) == "a/2026-01/"
    for template in ("a/!{partitionKeyFromLambda:t}/", "a/!{timestamp:yyyy 'h'}/", "a/!{firehose:random-string}/"):
        with pytest.raises(UnsupportedPartitioning):
            render_prefix(template, {"t": "x"}, NOON)
    dest = {**s3_destination(config(tenantAttribute="t"), "o", ROLE), "Prefix": "o/!{partitionKeyFromLambda:t}/"}
    with pytest.raises(UnsupportedPartitioning):  # refused before any record is filed, not sent to errors
        partition_records(dest, [b'{"NewImage":{"t":{"S":"a"}}}'], NOON)
