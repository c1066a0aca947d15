"""`dynamo-backup estimate`: the monthly cost of protecting tables, beside native PITR, and the
Firehose delivery-stream quota (docs/cost.md)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence

from ..core.errors import UserInputError
from ..provisioning.estimate import HORIZON_MONTHS as HORIZON
from ..provisioning.estimate import Estimate, Settings, estimate, plain
from ..provisioning.fleet import list_tables
from ..provisioning.optin import OptIn
from ..provisioning.pricing import load_prices
from ..provisioning.quota import quota_line, stream_quota
from ..provisioning.usage import observe_usage
from .base import UI, command, config_args, load

# 25 times DynamoDB's default per-table write quota (40,000 units/s): no table's rate is higher.
MAX_WRITES_PER_SECOND = 1_000_000
HEADER = ("TABLE", "SIZE", "WRITES/S", "WRITE RATE FROM", "LAMBDA", "FIREHOSE", "S3", "TOTAL/MONTH", "PITR/MONTH")


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("tables", nargs="*", metavar="TABLE", help="tables to estimate (default: every opted-in table)")
    config_args(p)
    p.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    p.add_argument("--prices", metavar="FILE", help="hjson/JSON prices replacing the built-in table's (docs/cost.md)")
    p.add_argument("--writes-per-second", type=float, metavar="N", help="use this write rate instead of CloudWatch's")
    p.add_argument(
        "--retention-days",
        type=int,
        metavar="DAYS",
        help="days of changes kept (default: the config's changeRetentionDays; 0: forever); PITR keeps 35",
    )


@command("estimate", "monthly cost of protecting tables, beside native PITR, and the delivery-stream quota", _args)
def cmd_estimate(args: argparse.Namespace, ui: UI) -> int:
    rate = args.writes_per_second
    # nan would print $nan (and bad JSON), 1e308 $inf: far above any table's rate is refused too
    if rate is not None and not (math.isfinite(rate) and 0 <= rate <= MAX_WRITES_PER_SECOND):
        raise UserInputError(
            f"--writes-per-second must be a finite number >= 0 and at most {MAX_WRITES_PER_SECOND:,}, got {rate:g}"
        )
    if args.retention_days is not None and args.retention_days < 0:
        raise UserInputError(f"--retention-days must be 0 (keep every change) or more, got {args.retention_days}")
    prices = load_prices(args.prices)
    config, clients = load(args)
    optin = OptIn.from_config(config, strict=True)
    tables = list(dict.fromkeys(args.tables)) or [t for t in list_tables(clients) if optin.covers(t)]
    settings = Settings.from_config(config, args.retention_days)
    estimates = [estimate(observe_usage(clients, t, args.writes_per_second), settings, prices) for t in tables]
    quota = stream_quota(clients)
    if args.json:
        document = {
            "tables": [e.as_dict() for e in estimates],
            "totalMonthlyCost": sum(e.total for e in estimates),
            "pitrMonthlyCost": sum(e.pitr for e in estimates),
            "quota": quota.as_dict(),
            "prices": prices.as_dict(),
        }
        ui.line(json.dumps(document, indent=2))
        return 0
    for line in table_lines(estimates):
        ui.line(line)
    for e in estimates:
        for line in component_lines(e):
            ui.line(f"{e.usage.table}: {line}")
    for e in estimates:
        for note in e.notes:
            ui.line(f"note: {e.usage.table}: {note}")
    ui.line(quota_line(quota))
    source = "the file " + args.prices if args.prices else "the built-in us-east-1 list prices"
    ui.line(f"prices: {source} (docs/cost.md); stream reads by Lambda are free")
    return 0


def table_lines(estimates: Sequence[Estimate]) -> list[str]:
    """The text table, with a total row when there is more than one table."""
    rows = [
        (
            e.usage.table,
            _size(e.usage.size_bytes),
            plain(e.usage.writes_per_second),
            e.usage.source,
            _usd(e.lambda_),
            _usd(e.firehose),
            _usd(e.s3_storage + e.s3_puts),
            _usd(e.total),
            _usd(e.pitr),
        )
        for e in estimates
    ]
    if len(estimates) > 1:
        total = sum(e.total for e in estimates)
        rows.append(("total", "", "", "", "", "", "", _usd(total), _usd(sum(e.pitr for e in estimates))))
    widths = [max(len(x) for x in col) for col in zip(HEADER, *rows, strict=False)]
    return ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=False)).rstrip() for row in (HEADER, *rows)]


def component_lines(e: Estimate) -> list[str]:
    """What each component's monthly figure is made of."""
    s = e.settings
    gathered = f"a {s.window_seconds} s batching window" if s.window_seconds else "no batching window"
    kept = f"{plain(e.kept_days)} days" if e.kept_days else "all, kept forever"
    return [
        f"Lambda {plain(e.invocations)} invocations of {plain(e.records_per_invocation)} changes ({gathered}): "
        f"{_usd(e.lambda_requests)} requests + {_usd(e.lambda_duration)} for {plain(e.gb_seconds)} GB-seconds",
        f"Firehose {plain(e.firehose_records)} records, {plain(e.ingested_gb)} GB billed for {plain(e.raw_gb)} GB "
        f"sent ({e.billed_ratio:.3f}x after 5 KB rounding a record): {_usd(e.firehose)}",
        f"S3 month {HORIZON}: changes {plain(e.changes_gb)} GB ({kept}) + {plain(e.bases_kept)} bases "
        f"{plain(e.bases_gb)} GB: {_usd(e.s3_storage)}; {plain(e.puts)} PUTs: {_usd(e.s3_puts)}",
    ]


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
