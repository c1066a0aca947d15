"""Pure: a table's Firehose S3 destination, in the flat layout or, with `tenantAttribute`, the
multi-tenant one that dynamic partitioning writes (docs/s3-format.md, Multi-tenant layout)."""

from __future__ import annotations

import json
from typing import Any

from ..core import naming
from ..core.config import Config

PARTITION_KEY = "tenant"
JQ_ENGINE = "JQ-1.6"  # the only engine Firehose's MetadataExtraction offers


def tenant_query(attribute: str) -> str:
    """The JQ query that names a change's tenant: the attribute's S or N value in the new image,
    else the old one (a REMOVE), else the keys (an oversize pointer line keeps only those), else
    NO_TENANT; a value that is not a safe key segment becomes BAD_TENANT. local/firehose_partitioning.py
    evaluates exactly this form, so keep the two in step."""
    name = json.dumps(attribute)  # ."name": attribute names with '.' or '-' are no JQ operators
    paths = [f".{image}.{name}.{kind}" for image in ("NewImage", "OldImage", "Keys") for kind in ("S", "N")]
    chain = " // ".join([*paths, json.dumps(naming.NO_TENANT)])
    test = json.dumps(f"\\A{naming.TENANT_VALUE}\\z")  # \A, \z: the whole value (^ and $ may match at a newline)
    return f"{{{PARTITION_KEY}: (({chain}) | if test({test}) then . else {json.dumps(naming.BAD_TENANT)} end)}}"


def tenant_prefix_expression(config: Config, table: str) -> str:
    """The S3 Prefix with Firehose's expressions: PREFIX/TABLE/tenant=VALUE/YYYY/MM/DD/HH/."""
    return (
        f"{naming.changes_prefix(config.prefix, table)}{naming.TENANT_SEGMENT}"
        f"!{{partitionKeyFromQuery:{PARTITION_KEY}}}/!{{timestamp:yyyy/MM/dd/HH}}/"
    )


def s3_destination(config: Config, table: str, role_arn: str) -> dict[str, Any]:
    """The ExtendedS3DestinationConfiguration of `table`'s delivery stream."""
    c = config
    dest: dict[str, Any] = {
        "RoleARN": role_arn,
        "BucketARN": f"arn:aws:s3:::{c.firehose_delivery_bucket}",
        "Prefix": naming.changes_prefix(c.prefix, table),
        "ErrorOutputPrefix": naming.errors_prefix(c.prefix, table),
        "BufferingHints": {
            "SizeInMBs": c.firehose_delivery_size_mb,
            "IntervalInSeconds": c.firehose_delivery_interval_seconds,
        },
        "CompressionFormat": c.firehose_compression,
    }
    if c.kms_key_arn:
        dest["EncryptionConfiguration"] = {"KMSEncryptionConfig": {"AWSKMSKeyARN": c.kms_key_arn}}
    if c.tenant_attribute:
        dest["Prefix"] = tenant_prefix_expression(c, table)
        # Firehose needs the error type in an error prefix when partitioning is on.
        dest["ErrorOutputPrefix"] = naming.errors_prefix(c.prefix, table) + "!{firehose:error-output-type}/"
        dest["DynamicPartitioningConfiguration"] = {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}}
        dest["ProcessingConfiguration"] = tenant_processing(c.tenant_attribute)
    return dest


def tenant_processing(attribute: str) -> dict[str, Any]:
    """The multi-tenant layout's processors. A Firehose record carries up to 500 change lines
    (capture/batching.py): JSON de-aggregation splits it so the query sees one change at a
    time, and a newline ends each change again, so S3 holds the same NDJSON lines as the flat
    layout (de-aggregation consumes the newlines between objects)."""
    return {
        "Enabled": True,
        "Processors": [
            {
                "Type": "RecordDeAggregation",
                "Parameters": [{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}],
            },
            {
                "Type": "MetadataExtraction",
                "Parameters": [
                    {"ParameterName": "MetadataExtractionQuery", "ParameterValue": tenant_query(attribute)},
                    {"ParameterName": "JsonParsingEngine", "ParameterValue": JQ_ENGINE},
                ],
            },
            {"Type": "AppendDelimiterToRecord"},
        ],
    }


def processing_differs(current: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """Whether a delivery stream's ProcessingConfiguration (as described) is not `wanted`;
    absent and empty parameter lists are the same."""

    def norm(config: dict[str, Any] | None) -> tuple[Any, ...]:
        config = config or {}
        processors = tuple(
            (p.get("Type"), tuple(sorted((q["ParameterName"], q["ParameterValue"]) for q in p.get("Parameters") or [])))
            for p in config.get("Processors") or []
        )
        return bool(config.get("Enabled")), processors

    return norm(current) != norm(wanted)
