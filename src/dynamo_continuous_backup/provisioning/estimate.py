"""The monthly cost of protecting one table, beside native PITR for it: a pure model of what
capture does (provisioning/usage.py observes the inputs; pricing.py holds the prices).

Assumptions, each a constant below (docs/cost.md):
- a month is 30 days; each table write is one stream record, one forwarder record, one
  Firehose record and one line in S3, of two item images (an update carries the old and the
  new one) plus RECORD_OVERHEAD_BYTES of keys and metadata;
- stream reads (one GetRecords a batch) cost nothing: Lambda reads the stream as a trigger;
- Lambda polls a shard POLLS_PER_SECOND times a second, so an invocation carries the writes
  of a quarter second (at least 1, at most `streamsMaxRecordsBatch`) and runs
  INVOCATION_BASE_SECONDS plus SECONDS_PER_RECORD per record at FORWARDER_MEMORY_MB; one shard
  (more shards mean more, smaller invocations);
- Firehose bills each record rounded up to 5 KB;
- S3 holds the changes compressed by COMPRESSION_RATIO (all of them with
  `changeRetentionDays` 0, else that many days plus one checkpoint interval) and the bases: the
  first snapshot and one checkpoint every `checkpointIntervalHours`, each the table's size
  compressed, never removed. Storage grows, so the S3 figure is the bill of month
  HORIZON_MONTHS; the growth per month is reported beside it;
- S3 PUTs: one object per Firehose buffer flush (`firehoseDeliveryIntervalSeconds` or
  `firehoseDeliverySizeMB` of data, whichever comes first) plus one per base;
- PITR is billed on the table's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.config import Config
from .pricing import Prices

MONTH_SECONDS = 30 * 86400
GB = 1024**3
FIREHOSE_INCREMENT = 5 * 1024  # Firehose ingestion is billed per record in 5 KB steps
POLLS_PER_SECOND = 4  # Lambda's polling rate of a DynamoDB stream shard
FORWARDER_MEMORY_MB = 1024  # install/spec.py's forwarder (a unit test keeps them equal)
INVOCATION_BASE_SECONDS = 0.1  # start-up and one PutRecordBatch round trip per invocation
SECONDS_PER_RECORD = 0.00001  # bench: ~200,000 records per CPU-second; taken at half that
IMAGES_PER_CHANGE = 2  # NEW_AND_OLD_IMAGES: inserts and removes carry one, so this is an upper bound
RECORD_OVERHEAD_BYTES = 300  # keys, sequence number, event id, times, type tags
# Compressed / raw size of NDJSON change lines; GZIP measured on the benchmarks' records.
COMPRESSION_RATIO = {"GZIP": 0.2, "ZIP": 0.2, "Snappy": 0.5, "HADOOP_SNAPPY": 0.5, "UNCOMPRESSED": 1.0}
HORIZON_MONTHS = 12


@dataclass(frozen=True)
class TableUsage:
    """What the model needs of a table; `source` says where the write rate came from and `note`
    anything the reader should know about it (a fallback, a missing permission)."""

    table: str
    size_bytes: int
    item_count: int
    writes_per_second: float
    source: str
    note: str = ""

    @property
    def avg_item_bytes(self) -> float:
        return self.size_bytes / self.item_count if self.item_count else 0.0


@dataclass(frozen=True)
class Settings:
    """The config keys the cost depends on."""

    batch_size: int = 1000
    compression: str = "GZIP"
    retention_days: int = 0
    checkpoint_hours: int = 24
    buffer_seconds: int = 60
    buffer_mb: int = 64

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        return cls(
            batch_size=config.streams_max_records_batch,
            compression=config.firehose_compression,
            retention_days=config.change_retention_days,
            checkpoint_hours=config.checkpoint_interval_hours,
            buffer_seconds=config.firehose_delivery_interval_seconds,
            buffer_mb=config.firehose_delivery_size_mb,
        )


@dataclass(frozen=True)
class Estimate:
    """One table's monthly figures (USD for the costs)."""

    usage: TableUsage
    changes_per_month: float
    record_bytes: float
    invocations: float
    gb_seconds: float
    ingested_gb: float
    stored_gb: float  # in month HORIZON_MONTHS
    growth_gb_per_month: float
    puts: float
    stream_reads: float
    lambda_: float
    firehose: float
    s3_storage: float
    s3_puts: float
    pitr: float
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return self.stream_reads + self.lambda_ + self.firehose + self.s3_storage + self.s3_puts

    def as_dict(self) -> dict[str, object]:
        u = self.usage
        return {
            "table": u.table,
            "sizeBytes": u.size_bytes,
            "itemCount": u.item_count,
            "writesPerSecond": u.writes_per_second,
            "writeRateSource": u.source,
            "changesPerMonth": self.changes_per_month,
            "lambdaInvocations": self.invocations,
            "lambdaGbSeconds": self.gb_seconds,
            "firehoseIngestedGb": self.ingested_gb,
            "s3StoredGb": self.stored_gb,
            "s3GrowthGbPerMonth": self.growth_gb_per_month,
            "s3Puts": self.puts,
            "monthlyCost": {
                "streamReads": self.stream_reads,
                "lambda": self.lambda_,
                "firehose": self.firehose,
                "s3Storage": self.s3_storage,
                "s3Puts": self.s3_puts,
                "total": self.total,
            },
            "pitrMonthlyCost": self.pitr,
            "notes": list(self.notes),
        }


def estimate(usage: TableUsage, settings: Settings, prices: Prices) -> Estimate:
    """The monthly cost of protecting the table described by `usage` (module docstring)."""
    changes = usage.writes_per_second * MONTH_SECONDS
    record = IMAGES_PER_CHANGE * usage.avg_item_bytes + RECORD_OVERHEAD_BYTES
    per_invocation = min(settings.batch_size, max(1.0, usage.writes_per_second / POLLS_PER_SECOND))
    invocations = changes / per_invocation
    seconds = INVOCATION_BASE_SECONDS + per_invocation * SECONDS_PER_RECORD
    gb_seconds = invocations * seconds * FORWARDER_MEMORY_MB / 1024
    ingested_gb = changes * math.ceil(record / FIREHOSE_INCREMENT) * FIREHOSE_INCREMENT / GB

    ratio = COMPRESSION_RATIO.get(settings.compression, 1.0)
    changes_gb = changes * record * ratio / GB  # one month of changes, compressed
    base_gb = usage.size_bytes * ratio / GB
    bases_per_month = 30 * 24 / settings.checkpoint_hours if settings.checkpoint_hours else 0.0
    if settings.retention_days:
        kept_months = (settings.retention_days + settings.checkpoint_hours / 24) / 30
        kept_changes_gb = changes_gb * min(HORIZON_MONTHS, kept_months)
    else:
        kept_changes_gb = changes_gb * HORIZON_MONTHS
    stored_gb = kept_changes_gb + base_gb * (1 + bases_per_month * HORIZON_MONTHS)
    growth = base_gb * bases_per_month + (0.0 if settings.retention_days else changes_gb)

    flushes = MONTH_SECONDS / max(1, settings.buffer_seconds)
    by_size = changes * record / (settings.buffer_mb * 1024 * 1024)
    puts = min(changes, max(flushes, by_size)) + bases_per_month

    return Estimate(
        usage=usage,
        changes_per_month=changes,
        record_bytes=record,
        invocations=invocations,
        gb_seconds=gb_seconds,
        ingested_gb=ingested_gb,
        stored_gb=stored_gb,
        growth_gb_per_month=growth,
        puts=puts,
        stream_reads=invocations / 1e6 * prices.stream_reads_per_million,  # one GetRecords a batch; free by default
        lambda_=invocations / 1e6 * prices.lambda_per_million_requests + gb_seconds * prices.lambda_per_gb_second,
        firehose=ingested_gb * prices.firehose_per_gb,
        s3_storage=stored_gb * prices.s3_per_gb_month,
        s3_puts=puts / 1000 * prices.s3_per_thousand_puts,
        pitr=usage.size_bytes / GB * prices.pitr_per_gb_month,
        notes=_notes(usage, settings, growth),
    )


def _notes(usage: TableUsage, settings: Settings, growth: float) -> tuple[str, ...]:
    notes = [usage.note] if usage.note else []
    if growth > 0:
        kept = (
            f"changes kept {settings.retention_days} days"
            if settings.retention_days
            else "changes kept forever with changeRetentionDays 0"
        )
        notes.append(
            f"S3 grows {growth:.3g} GB a month ({kept}, bases never removed); "
            f"the S3 figure is month {HORIZON_MONTHS}'s bill"
        )
    return tuple(notes)
