"""The monthly cost of protecting one table, beside native PITR for it: a pure model of what
capture does (provisioning/usage.py observes the inputs; pricing.py holds the prices).

Assumptions, each a constant below (docs/cost.md):
- a month is 30 days; each table write is one stream record and one NDJSON line in S3, of two
  item images (an update carries the old and the new one) plus RECORD_OVERHEAD_BYTES of keys
  and metadata; one shard (more shards mean more, smaller invocations);
- stream reads (one GetRecords a batch) cost nothing: Lambda reads the stream as a trigger;
- Lambda gathers a shard's records for `streamsBatchingWindowSeconds` (with 0, a poll's worth:
  POLLS_PER_SECOND polls a second) unless the batch fills first (`streamsMaxRecordsBatch`, or
  Lambda's 6 MB payload); an invocation runs INVOCATION_BASE_SECONDS plus SECONDS_PER_RECORD
  per record at FORWARDER_MEMORY_MB;
- the forwarder packs an invocation's lines into Firehose records of at most AGGREGATE_LINES
  lines and AGGREGATE_BYTES, and Firehose bills each record rounded up to 5 KB;
- S3 holds the changes compressed by COMPRESSION_RATIO (all of them with a retention of 0,
  else that many days plus one checkpoint interval, since pruning runs at checkpoints, plus
  NONCURRENT_DAYS, since the versioned bucket frees a pruned object's bytes only when the
  lifecycle rule expires its noncurrent version) and the bases: the first snapshot and one
  checkpoint every `checkpointIntervalHours`, each the table's size compressed; with a retention
  those of the same days as the changes (the retention's, the one before them, which times at
  its start restore from, and the removed ones until their old versions expire), else all.
  Storage grows, so the S3 figure is the bill of month HORIZON_MONTHS; the growth per month is
  reported beside it;
- S3 PUTs: one object per Firehose buffer flush (`firehoseDeliveryIntervalSeconds` or
  `firehoseDeliverySizeMB` of data, whichever comes first; at most one per PutRecordBatch)
  plus one per base;
- PITR is billed on the table's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core import naming
from ..core.config import Config
from .pricing import Prices

MONTH_SECONDS = 30 * 86400
GB = 1024**3
FIREHOSE_INCREMENT = 5 * 1024  # Firehose ingestion is billed per record in 5 KB steps
POLLS_PER_SECOND = 4  # Lambda's polling rate of a DynamoDB stream shard
INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda stops gathering a batch at its payload limit
FORWARDER_MEMORY_MB = 1024  # install/spec.py's forwarder (a unit test keeps them equal)
INVOCATION_BASE_SECONDS = 0.1  # start-up and one PutRecordBatch round trip per invocation
SECONDS_PER_RECORD = 0.00001  # bench: ~200,000 records per CPU-second; taken at half that
IMAGES_PER_CHANGE = 2  # NEW_AND_OLD_IMAGES: inserts and removes carry one, so this is an upper bound
RECORD_OVERHEAD_BYTES = 300  # keys, sequence number, event id, times, type tags
# The forwarder's packing (capture/): lines per Firehose record (Firehose de-aggregation's cap)
# and bytes per record (Firehose's 1,000 KiB record limit); PutRecordBatch takes 500 / 4 MiB.
AGGREGATE_LINES = 500
AGGREGATE_BYTES = 1000 * 1024
BATCH_RECORDS, BATCH_BYTES = 500, 4 * 1024 * 1024
# A pruned change object's bytes stay billed as a noncurrent version until the lifecycle rule
# expires it: naming.NONCURRENT_DAYS after pruning, which S3 rounds up to the next midnight UTC.
NONCURRENT_DAYS = naming.NONCURRENT_DAYS + 1
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
    """The config keys the cost depends on; `retention_days` 0 keeps every change.
    `aggregate` False and `window_seconds` 0 model the design before issue 18 (one Firehose
    record a change, no batching window), for comparison."""

    batch_size: int = 1000
    window_seconds: int = 30
    compression: str = "GZIP"
    retention_days: int = 0
    checkpoint_hours: int = 24
    buffer_seconds: int = 60
    buffer_mb: int = 64
    aggregate: bool = True

    @classmethod
    def from_config(cls, config: Config, retention_days: int | None = None) -> Settings:
        """The config's settings; `retention_days` (a flag) replaces `changeRetentionDays`."""
        return cls(
            batch_size=config.streams_max_records_batch,
            window_seconds=config.streams_batching_window_seconds,
            compression=config.firehose_compression,
            retention_days=config.change_retention_days if retention_days is None else retention_days,
            checkpoint_hours=config.checkpoint_interval_hours,
            buffer_seconds=config.firehose_delivery_interval_seconds,
            buffer_mb=config.firehose_delivery_size_mb,
        )


@dataclass(frozen=True)
class Estimate:
    """One table's monthly figures (USD for the costs)."""

    usage: TableUsage
    settings: Settings
    changes_per_month: float
    record_bytes: float
    records_per_invocation: float
    invocations: float
    gb_seconds: float
    firehose_records: float
    put_record_batches: float
    raw_gb: float  # the NDJSON lines Firehose receives
    ingested_gb: float  # what Firehose bills: each record rounded up to 5 KB
    kept_days: float  # how long a change's bytes are billed in S3; 0: forever
    changes_gb: float  # stored in month HORIZON_MONTHS
    bases_gb: float  # stored in month HORIZON_MONTHS
    bases_kept: float  # how many bases are billed in month HORIZON_MONTHS
    growth_gb_per_month: float
    puts: float
    stream_reads: float
    lambda_requests: float
    lambda_duration: float
    firehose: float
    s3_storage: float
    s3_puts: float
    pitr: float
    notes: tuple[str, ...] = ()

    @property
    def stored_gb(self) -> float:
        return self.changes_gb + self.bases_gb

    @property
    def lambda_(self) -> float:
        return self.lambda_requests + self.lambda_duration

    @property
    def billed_ratio(self) -> float:
        """Firehose's billed bytes over the bytes sent (1.0: no rounding waste)."""
        return self.ingested_gb / self.raw_gb if self.raw_gb else 1.0

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
            "batchingWindowSeconds": self.settings.window_seconds,
            "retentionDays": self.settings.retention_days,
            "changesPerMonth": self.changes_per_month,
            "changeBytes": self.record_bytes,
            "recordsPerInvocation": self.records_per_invocation,
            "lambdaInvocations": self.invocations,
            "lambdaGbSeconds": self.gb_seconds,
            "firehoseRecords": self.firehose_records,
            "firehosePutRecordBatchCalls": self.put_record_batches,
            "firehoseRawGb": self.raw_gb,
            "firehoseIngestedGb": self.ingested_gb,
            "firehoseBilledRatio": self.billed_ratio,
            "s3ChangesKeptDays": self.kept_days or None,
            "s3StoredGb": self.stored_gb,
            "s3ChangesGb": self.changes_gb,
            "s3BasesGb": self.bases_gb,
            "s3BasesKept": self.bases_kept,
            "s3GrowthGbPerMonth": self.growth_gb_per_month,
            "s3Puts": self.puts,
            "monthlyCost": {
                "streamReads": self.stream_reads,
                "lambdaRequests": self.lambda_requests,
                "lambdaDuration": self.lambda_duration,
                "lambda": self.lambda_,
                "firehose": self.firehose,
                "s3Storage": self.s3_storage,
                "s3Puts": self.s3_puts,
                "total": self.total,
            },
            "pitrMonthlyCost": self.pitr,
            "notes": list(self.notes),
        }


def records_per_invocation(writes_per_second: float, record_bytes: float, settings: Settings) -> float:
    """Changes in one forwarder invocation: what the window (or one poll) gathers, at least one,
    at most a full batch or Lambda's payload."""
    gathered = writes_per_second * max(settings.window_seconds, 1 / POLLS_PER_SECOND)
    full = min(settings.batch_size, max(1, INVOKE_PAYLOAD_BYTES // max(1, math.ceil(record_bytes))))
    return min(full, max(1.0, gathered))


def billed_bytes(lines: float, line_bytes: float) -> float:
    """One Firehose record's billed bytes: its size rounded up to the next 5 KB."""
    return math.ceil(lines * line_bytes / FIREHOSE_INCREMENT) * FIREHOSE_INCREMENT


def firehose_records(lines: float, line_bytes: float, aggregate: bool) -> tuple[float, float]:
    """(records, billed bytes) of one invocation's `lines`: packed as the forwarder packs them,
    or one record a line without aggregation."""
    if not aggregate or lines <= 1:
        return lines, lines * billed_bytes(1, line_bytes)
    per_record = max(1.0, min(AGGREGATE_LINES, AGGREGATE_BYTES // max(1, math.ceil(line_bytes)), lines))
    full = math.floor(lines / per_record)
    rest = lines - full * per_record
    billed = full * billed_bytes(per_record, line_bytes) + (billed_bytes(rest, line_bytes) if rest > 0 else 0)
    return full + (rest > 0), billed


def estimate(usage: TableUsage, settings: Settings, prices: Prices) -> Estimate:
    """The monthly cost of protecting the table described by `usage` (module docstring)."""
    changes = usage.writes_per_second * MONTH_SECONDS
    record = IMAGES_PER_CHANGE * usage.avg_item_bytes + RECORD_OVERHEAD_BYTES
    per_invocation = records_per_invocation(usage.writes_per_second, record, settings)
    invocations = changes / per_invocation
    seconds = INVOCATION_BASE_SECONDS + per_invocation * SECONDS_PER_RECORD
    gb_seconds = invocations * seconds * FORWARDER_MEMORY_MB / 1024
    records, billed = firehose_records(per_invocation, record, settings.aggregate)
    calls = invocations * max(math.ceil(records / BATCH_RECORDS), math.ceil(per_invocation * record / BATCH_BYTES))

    ratio = COMPRESSION_RATIO.get(settings.compression, 1.0)
    month_gb = changes * record * ratio / GB  # one month of changes, compressed
    base_gb = usage.size_bytes * ratio / GB
    bases_per_month = 30 * 24 / settings.checkpoint_hours if settings.checkpoint_hours else 0.0
    kept_days = settings.retention_days + settings.checkpoint_hours / 24 + NONCURRENT_DAYS
    if not settings.retention_days:
        kept_days = 0.0
    changes_gb = month_gb * (min(HORIZON_MONTHS, kept_days / 30) if kept_days else HORIZON_MONTHS)
    written = 1 + bases_per_month * HORIZON_MONTHS  # the first snapshot and every checkpoint
    # Retention keeps the bases of the days it keeps the changes (module docstring), at least one.
    kept_bases = max(1.0, kept_days * 24 / settings.checkpoint_hours) if kept_days and bases_per_month else written
    bases = min(written, kept_bases)
    bases_gb = base_gb * bases
    growth = (base_gb * bases_per_month if bases == written else 0.0) + (0.0 if kept_days else month_gb)

    flushes = min(invocations, MONTH_SECONDS / max(1, settings.buffer_seconds))
    by_size = changes * record / (settings.buffer_mb * 1024 * 1024)
    puts = max(flushes, by_size) + bases_per_month

    return Estimate(
        usage=usage,
        settings=settings,
        changes_per_month=changes,
        record_bytes=record,
        records_per_invocation=per_invocation,
        invocations=invocations,
        gb_seconds=gb_seconds,
        firehose_records=invocations * records,
        put_record_batches=calls,
        raw_gb=changes * record / GB,
        ingested_gb=invocations * billed / GB,
        kept_days=kept_days,
        changes_gb=changes_gb,
        bases_gb=bases_gb,
        bases_kept=bases,
        growth_gb_per_month=growth,
        puts=puts,
        stream_reads=invocations / 1e6 * prices.stream_reads_per_million,  # one GetRecords a batch; free by default
        lambda_requests=invocations / 1e6 * prices.lambda_per_million_requests,
        lambda_duration=gb_seconds * prices.lambda_per_gb_second,
        firehose=invocations * billed / GB * prices.firehose_per_gb,
        s3_storage=(changes_gb + bases_gb) * prices.s3_per_gb_month,
        s3_puts=puts / 1000 * prices.s3_per_thousand_puts,
        pitr=usage.size_bytes / GB * prices.pitr_per_gb_month,
        notes=_notes(usage, settings, growth, kept_days, bases),
    )


def plain(value: float) -> str:
    """A number as people write it: 1,234 or 16.7 or 0.042, never 1.23e+03."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}".removesuffix(".0")
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("0", "-0") else f"{value:.2g}" if abs(value) >= 1e-9 else "0"


def _notes(usage: TableUsage, settings: Settings, growth: float, kept_days: float, bases: float) -> tuple[str, ...]:
    notes = [usage.note] if usage.note else []
    grows = f"S3 grows {plain(growth)} GB a month; the S3 figure is month {HORIZON_MONTHS}'s bill"
    if kept_days:
        kept = (
            f"changes kept {plain(kept_days)} days: {settings.retention_days} of retention, "
            f"{plain(settings.checkpoint_hours / 24)} until the next checkpoint prunes, "
            f"{NONCURRENT_DAYS} until their old versions expire; {plain(bases)} bases kept"
        )
        notes.append(f"{kept}; {grows}" if growth > 0 else kept)
    elif growth > 0:
        notes.append(f"{grows} (changes kept forever with a retention of 0; bases never removed)")
    return tuple(notes)
