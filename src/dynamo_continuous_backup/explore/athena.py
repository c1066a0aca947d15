"""`athena-ddl`: a CREATE EXTERNAL TABLE over the change records (JSON SerDe, partition
projection over the YYYY/MM/DD/HH layout) and a versions view for "state as of" queries."""

from __future__ import annotations

import hashlib
import re

from ..core.config import Config
from ..core.naming import changes_prefix

_MAX_NAME = 200  # Athena allows 255 characters; room for the hash and the _versions suffix


def athena_name(table: str) -> str:
    """Athena's table name for a DynamoDB table: distinct for distinct tables, deterministic."""
    name = re.sub(r"[^a-z0-9_]", "_", table.lower())
    # Athena names are lowercase [a-z0-9_], so `Orders`/`orders` or `my-table`/`my.table` would
    # share one (and IF NOT EXISTS would then read the other's data): whenever sanitising
    # changes the name, a hash of the real name keeps it apart.
    if name == table and len(name) <= _MAX_NAME:
        return name
    return f"{name[:_MAX_NAME]}_{hashlib.sha256(table.encode()).hexdigest()[:8]}"


def athena_ddl(config: Config, table: str, database: str = "dynamodb_backups") -> str:
    name = athena_name(table)
    location = f"s3://{config.firehose_delivery_bucket}/{changes_prefix(config.prefix, table)}"
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{name}_changes (
  `keys` string,
  `newimage` string,
  `oldimage` string,
  `sequencenumber` string,
  `sizebytes` bigint,
  `eventname` string,
  `approximatecreationdatetime` double,
  `eventid` string,
  `tablename` string,
  `oversizes3key` string
)
PARTITIONED BY (`year` string, `month` string, `day` string, `hour` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'FALSE', 'case.insensitive' = 'TRUE')
LOCATION '{location}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.year.type' = 'integer', 'projection.year.range' = '2015,2099',
  'projection.month.type' = 'integer', 'projection.month.range' = '1,12', 'projection.month.digits' = '2',
  'projection.day.type' = 'integer', 'projection.day.range' = '1,31', 'projection.day.digits' = '2',
  'projection.hour.type' = 'integer', 'projection.hour.range' = '0,23', 'projection.hour.digits' = '2',
  'storage.location.template' = '{location}${{year}}/${{month}}/${{day}}/${{hour}}/'
);

-- One row per version of an item, valid from its change time until the next change.
-- State as of T: SELECT * FROM {database}.{name}_versions
--   WHERE valid_from <= T AND (valid_to IS NULL OR valid_to > T) AND eventname <> 'REMOVE'
CREATE OR REPLACE VIEW {database}.{name}_versions AS
SELECT keys, newimage AS item, eventname, sequencenumber,
       approximatecreationdatetime AS valid_from,
       lead(approximatecreationdatetime) OVER (PARTITION BY keys ORDER BY lpad(sequencenumber, 48, '0')) AS valid_to
FROM (
  SELECT DISTINCT keys, newimage, eventname, sequencenumber, approximatecreationdatetime
  FROM {database}.{name}_changes
);
"""
