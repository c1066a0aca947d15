"""The prices `dynamo-backup estimate` uses: one documented table, overridable from a file
(`--prices FILE`, hjson or JSON); never fetched from the network."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from ..core.config import known_key, read_hjson
from ..core.errors import ConfigError


@dataclass(frozen=True)
class Prices:
    """US East (N. Virginia) list prices in USD, first pricing tier, no free tier, as the AWS
    pricing pages listed them when this table was written (checked November 2026):

    - Lambda (x86): https://aws.amazon.com/lambda/pricing/ - $0.20 per million requests,
      $0.0000166667 per GB-second.
    - Data Firehose, Direct PUT ingestion: https://aws.amazon.com/firehose/pricing/ - $0.029 per
      GB (first 500 TB a month), each record rounded up to the next 5 KB.
    - S3 Standard: https://aws.amazon.com/s3/pricing/ - $0.023 per GB-month (first 50 TB),
      $0.005 per 1,000 PUT requests.
    - DynamoDB: https://aws.amazon.com/dynamodb/pricing/on-demand/ - streams read requests are
      free when Lambda reads the stream as a trigger (ours does); point-in-time recovery (PITR)
      $0.20 per GB-month of table size.

    Other regions differ: pass `--prices FILE` with the keys to change (the camelCase of the
    field names, e.g. `{s3PerGbMonth: 0.025}`)."""

    lambda_per_million_requests: float = 0.20
    lambda_per_gb_second: float = 0.0000166667
    firehose_per_gb: float = 0.029
    s3_per_gb_month: float = 0.023
    s3_per_thousand_puts: float = 0.005
    stream_reads_per_million: float = 0.0  # GetRecords by a Lambda trigger is not charged
    pitr_per_gb_month: float = 0.20

    def as_dict(self) -> dict[str, float]:
        return {_camel(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.capitalize() for p in rest)


_KEYS = {_camel(f.name): f.name for f in dataclasses.fields(Prices)}


def prices_from_mapping(data: object, source: str = "prices") -> Prices:
    """The default table with the given keys replaced; a wrong key or value is a ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected an object of prices, e.g. {{s3PerGbMonth: 0.025}}")
    values: dict[str, float] = {}
    for key, value in data.items():
        name = known_key(key, _KEYS, source, "price")
        # bool is an int: `true` is not a price
        number = _finite(value)
        if number is None or number < 0:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise ConfigError(f"{source}: price '{key}' must be a number >= 0 (USD, finite), got {shown}")
        values[name] = number
    return Prices(**values)


def _finite(value: object) -> float | None:
    """The value as a finite float, or None (bool is an int, but `true` is not a price)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None


def load_prices(path: str | Path | None) -> Prices:
    """The price table: the documented defaults, with a file's overrides when one is given."""
    if path is None:
        return Prices()
    data = read_hjson(path, "prices")
    if data == {}:  # an empty file parses as {}: it would silently change nothing
        raise ConfigError(f"prices file {path} is empty: give the prices to change, e.g. {{s3PerGbMonth: 0.025}}")
    return prices_from_mapping(data, f"prices file {path}")
