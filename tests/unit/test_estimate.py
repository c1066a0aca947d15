"""`estimate`'s pure half: the cost model against figures computed by hand, the price table and
its overrides, the write rate and its fallbacks, the delivery-stream quota line."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

from dynamo_continuous_backup.core.aws import wrap
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import ConfigError, TableNotFoundError
from dynamo_continuous_backup.install.spec import functions
from dynamo_continuous_backup.provisioning import estimate as model
from dynamo_continuous_backup.provisioning.estimate import Settings, TableUsage, estimate, plain
from dynamo_continuous_backup.provisioning.pricing import Prices, load_prices
from dynamo_continuous_backup.provisioning.quota import StreamQuota, default_limit, quota_line, stream_quota
from dynamo_continuous_backup.provisioning.usage import observe_usage, writes_from_capacity

from ..fakes import (
    DescribedDynamo,
    FakeCloudWatch,
    FakeServiceQuotas,
    ListedFirehose,
    client_error,
    clients_with,
)

GB = 1024**3
MONTH = 30 * 86400
# 1,000,000 items of 1,000 bytes, 10 writes a second, the default config.
USAGE = TableUsage("orders", 1_000_000_000, 1_000_000, 10.0, "CloudWatch, last 7 days")
DEFAULTS = Settings.from_config(Config(firehose_delivery_bucket="b"))


TODAY = Settings(window_seconds=0, aggregate=False)  # the design before issue 18, for comparison


def test_the_design_without_window_and_aggregation_costs_the_hand_computed_figure() -> None:
    e = estimate(USAGE, TODAY, Prices())

    changes = 10 * 2_592_000  # 10 writes/s for 30 days: 25,920,000 changes
    record = 2 * 1000 + 300  # old and new image of a 1,000-byte item, plus keys and metadata
    invocations = changes / 2.5  # 4 polls a second: 2.5 records an invocation
    gb_seconds = invocations * (0.1 + 2.5 * 0.00001) * 1024 / 1024
    assert e.changes_per_month == changes
    assert e.lambda_ == pytest.approx(invocations / 1e6 * 0.20 + gb_seconds * 0.0000166667)  # $19.36
    # Each 2,300-byte record is billed as 5 KB.
    assert e.firehose == pytest.approx(changes * 5120 / GB * 0.029)  # $3.58
    assert e.billed_ratio == pytest.approx(5120 / 2300)
    # Month 12 holds 12 months of changes (kept forever) and 1 + 12 * 30 daily bases, gzip at 0.2.
    stored = 12 * changes * record * 0.2 / GB + (1 + 12 * 30) * 1_000_000_000 * 0.2 / GB
    assert e.stored_gb == pytest.approx(stored)
    assert e.s3_storage == pytest.approx(stored * 0.023)  # $4.61
    assert e.growth_gb_per_month == pytest.approx(changes * record * 0.2 / GB + 30 * 1_000_000_000 * 0.2 / GB)
    # A flush a minute (the data never fills 64 MB first) plus a base a day.
    assert e.s3_puts == pytest.approx((MONTH / 60 + 30) / 1000 * 0.005)
    assert e.stream_reads == 0  # Lambda reads the stream as a trigger: free
    assert e.pitr == pytest.approx(1_000_000_000 / GB * 0.20)  # $0.19
    assert e.total == pytest.approx(e.lambda_ + e.firehose + e.s3_storage + e.s3_puts)
    assert e.notes == (
        "S3 grows 16.7 GB a month; the S3 figure is month 12's bill "
        "(changes kept forever with a retention of 0; bases never removed)",
    )


def test_the_window_and_aggregation_at_10_writes_a_second_with_35_days_kept() -> None:
    e = estimate(USAGE, replace(DEFAULTS, retention_days=35), Prices())
    changes, record = 25_920_000, 2300
    # A 30 s window gathers 300 changes: 86,400 invocations of 0.1 + 300 * 10 us each.
    assert e.records_per_invocation == 300 and e.invocations == pytest.approx(86_400)
    assert e.gb_seconds == pytest.approx(86_400 * 0.103)
    assert e.lambda_requests == pytest.approx(86_400 / 1e6 * 0.20)
    assert e.lambda_duration == pytest.approx(86_400 * 0.103 * 0.0000166667)
    # The 300 lines fit one record (<= 500 lines, 690,000 <= 1,024,000 bytes): 135 steps of 5 KB.
    assert e.firehose_records == pytest.approx(86_400) and e.put_record_batches == pytest.approx(86_400)
    assert e.raw_gb == pytest.approx(changes * record / GB)
    assert e.ingested_gb == pytest.approx(86_400 * 135 * 5120 / GB)
    assert e.billed_ratio == pytest.approx(691_200 / 690_000)  # 1.0017
    assert e.firehose == pytest.approx(86_400 * 691_200 / GB * 0.029)
    # Changes billed 35 days + 1 until the next checkpoint prunes + 8 until the old versions expire
    # (the lifecycle rule's 7 days, rounded up to midnight UTC).
    assert e.kept_days == 44
    assert e.changes_gb == pytest.approx(changes * record * 0.2 / GB * 44 / 30)
    # Bases billed, of a checkpoint a day: the 35 of the retention's days, the one before them (times at
    # the window's start restore from it), 8 removed ones until their old versions expire: 44, not 361.
    assert e.bases_kept == 44
    assert e.bases_gb == pytest.approx(44 * 1_000_000_000 * 0.2 / GB)
    assert e.s3_storage == pytest.approx(
        (changes * record * 0.2 / GB * 44 / 30 + 44 * 1_000_000_000 * 0.2 / GB) * 0.023
    )
    # Data arrives every 30 s: a flush every 60 s, plus a base a day.
    assert e.puts == pytest.approx(43_200 + 30)
    assert e.growth_gb_per_month == 0  # nothing grows: the bases go with the changes
    assert e.notes == (
        "changes kept 44 days: 35 of retention, 1 until the next checkpoint prunes, 8 until their old versions "
        "expire; 44 bases kept",
    )
    assert e.total == pytest.approx(2.56, abs=0.005)  # issue 18's goal at 10 writes/s: <= $3 (before: $3.92)


def test_without_retention_every_base_is_kept_and_without_checkpoints_the_first_one() -> None:
    forever = estimate(USAGE, DEFAULTS, Prices())
    assert forever.bases_kept == 1 + 12 * 30 and forever.growth_gb_per_month > 0
    only_scan = estimate(USAGE, replace(DEFAULTS, retention_days=35, checkpoint_hours=0), Prices())
    assert only_scan.bases_kept == 1  # restores of every kept day read from it
    # checkpoints every 6 hours with a week kept: (7 + 0.25 + 8) days of them
    six = estimate(USAGE, replace(DEFAULTS, retention_days=7, checkpoint_hours=6), Prices())
    assert six.bases_kept == pytest.approx((7 + 0.25 + 8) * 4)
    # a retention longer than the bases written by month 12 keeps them all (and they grow)
    long = estimate(USAGE, replace(DEFAULTS, retention_days=3650), Prices())
    assert long.bases_kept == 1 + 12 * 30 and long.growth_gb_per_month == pytest.approx(30 * 1_000_000_000 * 0.2 / GB)


def test_records_are_packed_up_to_the_line_and_byte_caps_and_invocations_up_to_the_payload() -> None:
    # 3,000-byte items: 6,300-byte changes. Lambda's 6 MiB payload holds 998 of them (< the batch of 1,000).
    big = TableUsage("big", 3_000_000, 1000, 1000.0, "flag")
    e = estimate(big, Settings(checkpoint_hours=0), Prices())
    assert e.records_per_invocation == 998
    # 1,024,000 // 6,300 = 162 lines a record: 6 full records (972 lines) and one of 26.
    full = math.ceil(162 * 6300 / 5120) * 5120  # 1,024,000
    rest = math.ceil(26 * 6300 / 5120) * 5120  # 163,840
    invocations = 1000 * MONTH / 998
    assert e.firehose_records == pytest.approx(invocations * 7)
    assert e.ingested_gb == pytest.approx(invocations * (6 * full + rest) / GB)
    assert e.put_record_batches == pytest.approx(invocations * 2)  # 998 * 6,300 bytes > 4 MiB: two calls
    # small changes: 500 lines a record at most (300-byte changes, 1,000 a batch: two records of 500)
    tiny = estimate(TableUsage("tiny", 0, 0, 20_000.0, "flag"), Settings(checkpoint_hours=0), Prices())
    assert tiny.firehose_records == pytest.approx(tiny.invocations * 2)
    assert tiny.ingested_gb == pytest.approx(tiny.invocations * 2 * math.ceil(150_000 / 5120) * 5120 / GB)


def test_aggregation_without_a_window_packs_one_polls_changes() -> None:
    e = estimate(USAGE, replace(DEFAULTS, window_seconds=0), Prices())
    # 2.5 changes a poll, one record of 5,750 bytes: two 5 KB steps
    assert e.invocations == pytest.approx(25_920_000 / 2.5)
    assert e.ingested_gb == pytest.approx(25_920_000 / 2.5 * 10_240 / GB)


def test_retention_days_come_from_the_flag_else_the_config() -> None:
    config = Config(firehose_delivery_bucket="b", change_retention_days=7)
    assert Settings.from_config(config).retention_days == 7
    assert Settings.from_config(config, 35).retention_days == 35
    assert Settings.from_config(config, 0).retention_days == 0  # 0: forever
    assert Settings.from_config(config.replace(streams_batching_window_seconds=5)).window_seconds == 5
    week = estimate(USAGE, Settings(retention_days=7, checkpoint_hours=24), Prices())
    month_of_changes = 10 * MONTH * (2 * 1000 + 300) * 0.2 / GB
    bases = (7 + 1 + 8) * 1_000_000_000 * 0.2 / GB  # a base a day, kept as long as the changes
    assert week.stored_gb == pytest.approx(month_of_changes * (7 + 1 + 8) / 30 + bases)


@pytest.mark.parametrize(
    ("value", "text"),
    [(1000, "1,000"), (25_920_000, "25,920,000"), (16.66, "16.7"), (2.5, "2.5"), (0.0421, "0.0421"), (0, "0")],
)
def test_numbers_are_written_plainly(value: float, text: str) -> None:
    assert plain(value) == text


def test_uncompressed_changes_without_checkpoints_store_their_raw_size() -> None:
    plain = Settings(compression="UNCOMPRESSED", checkpoint_hours=0)
    e = estimate(USAGE, plain, Prices())
    assert e.stored_gb == pytest.approx(12 * 10 * MONTH * 2300 / GB + 1_000_000_000 / GB)


def test_a_busy_table_fills_its_batches_and_its_buffers() -> None:
    busy = TableUsage("busy", 0, 0, 20_000.0, "flag")  # 5,000 a poll: capped at the batch size
    e = estimate(busy, Settings(batch_size=1000, checkpoint_hours=0), Prices())
    changes = 20_000 * MONTH
    assert e.invocations == pytest.approx(changes / 1000)
    assert e.gb_seconds == pytest.approx(changes / 1000 * (0.1 + 1000 * 0.00001))
    assert e.puts == pytest.approx(changes * 300 / (64 * 1024 * 1024))  # by size, not by time


def test_an_idle_table_costs_only_its_storage_and_the_flushes_nothing_fills() -> None:
    idle = TableUsage("idle", 1_000_000_000, 1_000_000, 0.0, "none", "unknown write rate")
    e = estimate(idle, DEFAULTS, Prices())
    assert (e.lambda_, e.firehose, e.changes_per_month) == (0, 0, 0)
    assert e.puts == pytest.approx(30)  # no change, no flush: only the daily bases
    assert e.notes[0] == "unknown write rate"


def test_every_price_moves_its_component() -> None:
    doubled = Prices(**{k: 2 * v for k, v in vars(Prices()).items()})
    one, two = estimate(USAGE, DEFAULTS, Prices()), estimate(USAGE, DEFAULTS, doubled)
    for part in ("lambda_", "firehose", "s3_storage", "s3_puts", "pitr"):
        assert getattr(two, part) == pytest.approx(2 * getattr(one, part)), part
    charged = estimate(USAGE, TODAY, Prices(stream_reads_per_million=0.02))
    assert charged.stream_reads == pytest.approx(10 * MONTH / 2.5 / 1e6 * 0.02)  # one GetRecords a batch


def test_the_model_uses_the_forwarders_memory() -> None:
    forwarder = next(f for f in functions(Config(firehose_delivery_bucket="b")) if f.role == "forwarder")
    assert forwarder.memory == model.FORWARDER_MEMORY_MB


# -- prices ----------------------------------------------------------------------------------


def test_a_prices_file_overrides_only_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "prices.hjson"
    path.write_text("{\n  s3PerGbMonth: 0.025\n  pitrPerGbMonth: 0.25\n}\n")
    prices = load_prices(path)
    assert (prices.s3_per_gb_month, prices.pitr_per_gb_month) == (0.025, 0.25)
    assert prices.firehose_per_gb == Prices().firehose_per_gb
    assert load_prices(None) == Prices()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{s3PerGBMonth: 1}", "unknown price 's3PerGBMonth'; did you mean 's3PerGbMonth'"),
        ("{s3PerGbMonth: -1}", "must be a number >= 0"),
        ("{s3PerGbMonth: true}", "must be a number >= 0"),
        ("{\n  s3PerGbMonth: cheap\n}", "must be a number >= 0"),
        ("[1]", "expected an object of prices"),
    ],
)
def test_a_wrong_price_is_a_config_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "prices.hjson"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_prices(path)


# -- the write rate --------------------------------------------------------------------------

ON_DEMAND = {"TableSizeBytes": 3_000_000, "ItemCount": 1000, "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}}
PROVISIONED = {
    "TableSizeBytes": 3_000_000,
    "ItemCount": 1000,
    "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 30},
}


def test_a_write_of_an_item_of_n_kilobytes_takes_n_capacity_units() -> None:
    assert writes_from_capacity(30, 3000) == 10  # 3,000-byte items: 3 units a write
    assert writes_from_capacity(30, 1024) == 30
    assert writes_from_capacity(30, 0) == 30  # an empty table: at least one unit a write


def test_the_write_rate_is_cloudwatchs_consumed_capacity_over_seven_days() -> None:
    week = 7 * 86400
    clients = clients_with(dynamodb=DescribedDynamo(t=ON_DEMAND), cloudwatch=FakeCloudWatch((week * 3.0, week * 6.0)))
    usage = observe_usage(clients, "t")
    assert usage.writes_per_second == pytest.approx((3 + 6) / 3)  # 9 units a second of 3,000-byte items
    assert (usage.source, usage.note) == ("CloudWatch, last 7 days", "")


def test_without_metrics_a_provisioned_table_is_taken_at_its_capacity() -> None:
    clients = clients_with(dynamodb=DescribedDynamo(t=PROVISIONED), cloudwatch=FakeCloudWatch())
    usage = observe_usage(clients, "t")
    assert usage.writes_per_second == 10  # 30 units, 3 a write
    assert usage.source == "provisioned capacity (upper bound)"


def test_without_metrics_an_on_demand_table_is_assumed_idle_and_says_so() -> None:
    clients = clients_with(dynamodb=DescribedDynamo(t=ON_DEMAND), cloudwatch=FakeCloudWatch())
    usage = observe_usage(clients, "t")
    assert (usage.writes_per_second, usage.source) == (0, "none")
    assert usage.note == "unknown write rate, assumed 0: pass --writes-per-second N"


def test_denied_cloudwatch_degrades_to_the_description_and_says_so() -> None:
    denied = client_error("AccessDenied", "GetMetricStatistics", 403, "not authorized")
    for desc, rate in ((PROVISIONED, 10.0), (ON_DEMAND, 0.0)):
        clients = clients_with(dynamodb=DescribedDynamo(t=desc), cloudwatch=FakeCloudWatch(error=denied))
        usage = observe_usage(clients, "t")
        assert usage.writes_per_second == rate
        assert usage.note.startswith("no permission to read CloudWatch (cloudwatch:GetMetricStatistics)")


def test_a_given_write_rate_skips_cloudwatch() -> None:
    clients = clients_with(dynamodb=DescribedDynamo(t=ON_DEMAND))  # no cloudwatch: a call would fail the test
    assert observe_usage(clients, "t", writes_per_second=2.5).writes_per_second == 2.5


def test_an_unknown_table_is_the_missing_table_error() -> None:
    with pytest.raises(TableNotFoundError, match="^table nosuch does not exist"):
        observe_usage(clients_with(dynamodb=DescribedDynamo()), "nosuch")


# -- the quota -------------------------------------------------------------------------------

QUOTA = [{"QuotaName": "Rate of ListDeliveryStreams", "Value": 5.0}, {"QuotaName": "Delivery streams", "Value": 800.0}]


def test_the_quota_line_says_used_limit_source_and_what_fits() -> None:
    line = quota_line(StreamQuota(12, 5000, "Service Quotas"))
    assert line == "Firehose delivery streams: 12 of 5000 used (quota from Service Quotas); 4988 more tables fit"
    assert StreamQuota(60, 50, "x").fit == 0


def test_the_quota_is_service_quotas_applied_value_then_its_default() -> None:
    clients = clients_with(firehose=ListedFirehose(["a", "b", "c", "d", "e"]))  # 3 pages of 2
    applied = stream_quota(clients, wrap(FakeServiceQuotas(QUOTA, [])))
    assert (applied.used, applied.limit, applied.source) == (5, 800, "Service Quotas")
    default = stream_quota(clients, wrap(FakeServiceQuotas([], QUOTA)))
    assert (default.limit, default.source) == (800, "Service Quotas")


def test_without_service_quotas_the_documented_default_is_used_and_named() -> None:
    clients = clients_with(firehose=ListedFirehose(["a"]))
    denied = client_error("AccessDeniedException", "ListServiceQuotas", 400)
    missing = client_error("NoSuchResourceException", "ListAWSDefaultServiceQuotas", 400)
    quota = stream_quota(clients, wrap(FakeServiceQuotas(denied, missing)))
    assert quota.limit == default_limit("us-east-1") == 5000
    assert quota.source == "the documented default for us-east-1: Service Quotas answered NoSuchResourceException"
    unnamed = stream_quota(clients, wrap(FakeServiceQuotas([], [])))
    assert unnamed.source == "the documented default for us-east-1: not in Service Quotas"


def test_documented_defaults_differ_by_region_and_an_unlisted_one_gets_the_lowest() -> None:
    assert [default_limit(r) for r in ("us-west-2", "eu-central-1", "sa-east-1", "xx-new-1")] == [5000, 2000, 500, 100]


def test_ceil_matches_firehose_five_kilobyte_steps() -> None:
    # The model's one rounding: a 5,121-byte record is billed as 10 KB.
    big = TableUsage("big", 2_410_500, 1000, 1.0, "flag")  # 2 * 2,410.5 + 300 = 5,121 bytes
    e = estimate(big, TODAY, Prices())
    assert e.ingested_gb == pytest.approx(MONTH * math.ceil(5121 / 5120) * 5120 / GB)
    assert e.ingested_gb == pytest.approx(MONTH * 10240 / GB)
