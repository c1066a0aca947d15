"""The schema of a table as it is kept beside its backups, and the CreateTable call that
recreates it."""

from __future__ import annotations

from typing import Any

# What DescribeTable returns that a restore needs to recreate the table.
SCHEMA_FIELDS = (
    "TableName",
    "TableArn",
    "KeySchema",
    "AttributeDefinitions",
    "BillingModeSummary",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "SSEDescription",
    "TableClassSummary",
    "DeletionProtectionEnabled",
)


def saved_schema(description: dict[str, Any]) -> dict[str, Any]:
    """The part of DescribeTable's answer kept as `_schema.json`."""
    return {k: description[k] for k in SCHEMA_FIELDS if k in description}


def key_names(schema: dict[str, Any]) -> list[str]:
    """The key attributes, hash key first."""
    order = {"HASH": 0, "RANGE": 1}
    return [k["AttributeName"] for k in sorted(schema["KeySchema"], key=lambda k: order[k["KeyType"]])]


def table_args(schema: dict[str, Any], target: str) -> dict[str, Any]:
    """CreateTable arguments that recreate the saved schema (keys, indexes, billing mode)."""
    billing = (schema.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    args: dict[str, Any] = {
        "TableName": target,
        "KeySchema": schema["KeySchema"],
        "AttributeDefinitions": schema["AttributeDefinitions"],
        "BillingMode": billing,
    }
    throughput = schema.get("ProvisionedThroughput") or {}
    if billing == "PROVISIONED":
        args["ProvisionedThroughput"] = {
            "ReadCapacityUnits": max(1, throughput.get("ReadCapacityUnits", 5)),
            "WriteCapacityUnits": max(1, throughput.get("WriteCapacityUnits", 5)),
        }
    gsis = []
    for g in schema.get("GlobalSecondaryIndexes") or []:
        gsi = {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
        if billing == "PROVISIONED":
            pt = g.get("ProvisionedThroughput") or {}
            gsi["ProvisionedThroughput"] = {
                "ReadCapacityUnits": max(1, pt.get("ReadCapacityUnits", 5)),
                "WriteCapacityUnits": max(1, pt.get("WriteCapacityUnits", 5)),
            }
        gsis.append(gsi)
    if gsis:
        args["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {"IndexName": x["IndexName"], "KeySchema": x["KeySchema"], "Projection": x["Projection"]}
        for x in schema.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        args["LocalSecondaryIndexes"] = lsis
    return args
