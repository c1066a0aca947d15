"""`athena-ddl`, and the Athena engine's tables: a CREATE EXTERNAL TABLE over the change records
(JSON SerDe, partition projection over the YYYY/MM/DD/HH layout), one over a base's files, and
a versions view for "state as of" queries."""

from __future__ import annotations

import hashlib
import re

from ..core.config import Config
from ..core.naming import changes_prefix

_MAX_NAME = 200  # Athena allows 255 characters; room for the hash and the _versions suffix

# Column -> the record's JSON key. The SerDe is case-sensitive, with a mapping per column:
# its case-insensitive mode lower-cases JSON keys, and an image's attribute names (and the
# type tags S, N, M...) must reach ImportTable exactly as they were written.
COLUMNS = (
    ("keys", "Keys", "string"),
    ("newimage", "NewImage", "string"),
    ("oldimage", "OldImage", "string"),
    ("item", "Item", "string"),
    ("sequencenumber", "SequenceNumber", "string"),
    ("sizebytes", "SizeBytes", "bigint"),
    ("eventname", "eventName", "string"),
    ("approximatecreationdatetime", "ApproximateCreationDateTime", "double"),
    ("eventid", "eventID", "string"),
    ("tablename", "tableName", "string"),
    ("streamlabel", "streamLabel", "string"),
    ("oversizes3key", "oversizeS3Key", "string"),
)


def athena_name(table: str) -> str:
    """Athena's table name for a DynamoDB table: distinct for distinct tables, deterministic."""
    name = re.sub(r"[^a-z0-9_]", "_", table.lower())
    # Athena names are lowercase [a-z0-9_], so `Orders`/`orders` or `my-table`/`my.table` would
    # share one (and IF NOT EXISTS would then read the other's data): whenever sanitising
    # changes the name, a hash of the real name keeps it apart.
    if name == table and len(name) <= _MAX_NAME:
        return name
    return f"{name[:_MAX_NAME]}_{hashlib.sha256(table.encode()).hexdigest()[:8]}"


def base_table_name(table: str, run_id: str) -> str:
    """The Athena table over one base run's files: one per (table, run), never reused for another."""
    return f"{athena_name(table)}_base_{hashlib.sha256(run_id.encode()).hexdigest()[:12]}"


def _columns() -> str:
    return ",\n".join(f"  `{name}` {kind}" for name, _, kind in COLUMNS)


def _serde() -> str:
    mappings = ", ".join(f"'mapping.{name}' = '{key}'" for name, key, _ in COLUMNS)
    return (
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n"
        f"WITH SERDEPROPERTIES ('ignore.malformed.json' = 'FALSE', 'case.insensitive' = 'FALSE', {mappings})"
    )


def changes_ddl(config: Config, table: str, database: str) -> str:
    """CREATE EXTERNAL TABLE over the table's change records, partitions projected, none listed."""
    location = f"s3://{config.firehose_delivery_bucket}/{changes_prefix(config.prefix, table)}"
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{athena_name(table)}_changes (
{_columns()}
)
PARTITIONED BY (`year` string, `month` string, `day` string, `hour` string)
{_serde()}
LOCATION '{location}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.year.type' = 'integer', 'projection.year.range' = '2015,2099',
  'projection.month.type' = 'integer', 'projection.month.range' = '1,12', 'projection.month.digits' = '2',
  'projection.day.type' = 'integer', 'projection.day.range' = '1,31', 'projection.day.digits' = '2',
  'projection.hour.type' = 'integer', 'projection.hour.range' = '0,23', 'projection.hour.digits' = '2',
  'storage.location.template' = '{location}${{year}}/${{month}}/${{day}}/${{hour}}/'
)"""


def base_ddl(table: str, run_id: str, location: str, database: str) -> str:
    """CREATE EXTERNAL TABLE over one base's folder (`location`: an s3:// URL ending in '/')."""
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{base_table_name(table, run_id)} (
{_columns()}
)
{_serde()}
LOCATION '{location}'"""


def athena_ddl(config: Config, table: str, database: str = "dynamodb_backups") -> str:
    name = athena_name(table)
    return f"""{changes_ddl(config, table, database)};

-- One row per version of an item, valid from its change time until the next change.
-- State as of T: SELECT * FROM {database}.{name}_versions
--   WHERE valid_from <= T AND (valid_to IS NULL OR valid_to > T) AND eventname <> 'REMOVE'
CREATE OR REPLACE VIEW {database}.{name}_versions AS
SELECT keys, newimage AS item, eventname, sequencenumber, streamlabel,
       approximatecreationdatetime AS valid_from,
       lead(approximatecreationdatetime) OVER (PARTITION BY keys ORDER BY lpad(sequencenumber, 48, '0')) AS valid_to
FROM (
  SELECT DISTINCT keys, newimage, eventname, sequencenumber, streamlabel, approximatecreationdatetime
  FROM {database}.{name}_changes
);
"""
