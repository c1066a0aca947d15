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
        query = tenant_query(c.tenant_attribute)
        # Each Firehose record is one change line (capture/forwarder.py sends one record per
        # line), so no RecordDeAggregation is needed before the query.
        dest["Prefix"] = tenant_prefix_expression(c, table)
        # Firehose needs the error type in an error prefix when partitioning is on.
        dest["ErrorOutputPrefix"] = naming.errors_prefix(c.prefix, table) + "!{firehose:error-output-type}/"
        dest["DynamicPartitioningConfiguration"] = {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}}
        dest["ProcessingConfiguration"] = {
            "Enabled": True,
            "Processors": [
                {
                    "Type": "MetadataExtraction",
                    "Parameters": [
                        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
                        {"ParameterName": "JsonParsingEngine", "ParameterValue": JQ_ENGINE},
                    ],
                }
            ],
        }
    return dest
