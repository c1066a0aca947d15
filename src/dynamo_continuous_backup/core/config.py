"""Configuration: one hjson file validated into a frozen dataclass.

Keys keep the original tool's names and meanings; new keys use the same camelCase style.
Precedence is explicit: command-line flag > file > environment > default.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

ENV_CONFIG = "DCB_CONFIG"  # the Lambda functions receive their config as JSON in this variable
COMPRESSIONS = ("GZIP", "UNCOMPRESSED", "ZIP", "Snappy", "HADOOP_SNAPPY")


@dataclass(frozen=True)
class Config:
    """Validated settings; field names are the snake_case of the file's camelCase keys."""

    firehose_delivery_bucket: str
    region: str | None = None
    firehose_delivery_prefix: str = "dynamodb-backups"
    firehose_delivery_role_arn: str | None = None
    firehose_delivery_size_mb: int = 64
    firehose_delivery_interval_seconds: int = 60
    firehose_compression: str = "GZIP"
    lambda_exec_role_arn: str | None = None
    provisioner_role_arn: str | None = None
    cloud_watch_role_arn: str | None = None
    streams_max_records_batch: int = 1000
    # Lambda gathers a shard's records this long (unless the batch fills) before invoking the
    # forwarder: fewer, larger invocations and Firehose records, at up to this much more delay.
    streams_batching_window_seconds: int = 30
    maximum_retry_attempts: int = -1
    table_name_match_regex: str = ".*"
    table_name_exclude_regex: str | None = None
    opt_in_hook: str | None = None
    kms_key_arn: str | None = None
    resource_prefix: str = "dynamo-backup"
    reconcile_schedule: str = "rate(1 hour)"
    snapshot_on_enable: bool = True
    snapshot_max_items: int = 10000
    checkpoint_interval_hours: int = 24  # the ensure function's checkpoints; 0: none
    change_retention_days: int = 0  # 0: keep every change; else checkpoints remove older ones
    log_item_data: bool = False
    max_lag_seconds: int = 300  # the alarms' threshold for capture falling behind
    alarm_topic_arn: str | None = None  # None: deploy creates `{resourcePrefix}-alarms`
    alarm_email: str | None = None  # subscribed to the alarm topic by deploy
    wait_timeout_seconds: int = 300
    drain_seconds: int = 120
    # Multi-tenant layout: changes under PREFIX/TABLE/tenant=VALUE/..., VALUE being this
    # top-level attribute of the item (docs/s3-format.md, Multi-tenant layout); None: PREFIX/TABLE/...
    tenant_attribute: str | None = None
    athena_workgroup: str = "primary"  # the Athena engine's workgroup (`--engine athena`)
    athena_output_location: str | None = None  # s3:// URL; None: s3://BUCKET/PREFIX/@athena-results/
    athena_database: str = "dynamodb_backups"  # the Glue database of the Athena engine's tables

    @property
    def prefix(self) -> str:
        return self.firehose_delivery_prefix.strip("/")

    @property
    def athena_results(self) -> str:
        """Where Athena writes query results: `athenaOutputLocation`, or under the backup prefix."""
        return self.athena_output_location or f"s3://{self.firehose_delivery_bucket}/{self.prefix}/@athena-results/"

    @property
    def forwarder_function_name(self) -> str:
        return f"{self.resource_prefix}-forwarder"

    @property
    def ensure_function_name(self) -> str:
        return f"{self.resource_prefix}-ensure"

    def to_json(self) -> str:
        """The camelCase JSON form, as read back by `config_from_env`."""
        out = {_camel(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.dumps({k: v for k, v in out.items() if v is not None}, sort_keys=True)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class _Rule:
    kind: type | tuple[type, ...]
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = field(default=())


_RULES: dict[str, _Rule] = {
    "firehose_delivery_size_mb": _Rule(int, 1, 128),
    "firehose_delivery_interval_seconds": _Rule(int, 0, 900),
    "streams_max_records_batch": _Rule(int, 1, 10000),
    "streams_batching_window_seconds": _Rule(int, 0, 300),  # Lambda's MaximumBatchingWindowInSeconds
    "maximum_retry_attempts": _Rule(int, -1, 10000),
    "snapshot_max_items": _Rule(int, 0, 10_000_000),
    "checkpoint_interval_hours": _Rule(int, 0, 8760),
    "change_retention_days": _Rule(int, 0, 36500),
    "wait_timeout_seconds": _Rule(int, 1, 3600),
    "drain_seconds": _Rule(int, 0, 86400),
    "max_lag_seconds": _Rule(int, 60, 86400),
    "firehose_compression": _Rule(str, choices=COMPRESSIONS),
}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    special = {"mb": "MB", "arn": "Arn"}
    return head + "".join(special.get(p, p.capitalize()) for p in rest)


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
_KEYS = {_camel(name): name for name in _FIELDS}


def _expected_type(name: str) -> type:
    annotation = str(_FIELDS[name].type)
    if annotation.startswith("int"):
        return int
    if annotation.startswith("bool"):
        return bool
    return str


def known_key(key: str, keys: Mapping[str, str], source: str, what: str = "key") -> str:
    """The field name `keys` maps `key` to; an unknown one is a ConfigError with the closest match."""
    name = keys.get(key)
    if name is None:
        close = difflib.get_close_matches(key, list(keys), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(sorted(keys))}"
        raise ConfigError(f"{source}: unknown {what} '{key}'{hint}")
    return name


def config_from_mapping(data: Mapping[str, Any], source: str = "config") -> Config:
    """Validate a mapping of camelCase keys; raise ConfigError naming the key and the fix."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected an object of settings at the top level")
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = known_key(key, _KEYS, source)
        if value is None:
            continue
        want = _expected_type(name)
        # bool is a subclass of int: reject true/false where a number is expected.
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise ConfigError(f"{source}: key '{key}' must be {want.__name__}, got {type(value).__name__} {value!r}")
        rule = _RULES.get(name)
        if rule and rule.low is not None and rule.high is not None and not rule.low <= int(value) <= rule.high:  # type: ignore[call-overload]
            raise ConfigError(f"{source}: key '{key}' must be between {rule.low} and {rule.high}, got {value}")
        if rule and rule.choices and value not in rule.choices:
            raise ConfigError(f"{source}: key '{key}' must be one of {', '.join(rule.choices)}, got {value!r}")
        values[name] = value
    if not values.get("firehose_delivery_bucket"):
        raise ConfigError(f"{source}: key 'firehoseDeliveryBucket' is required (the S3 bucket for backups)")
    prefix = values.get("firehose_delivery_prefix")
    # The prefix starts every object key: an empty, '.' or '..' segment would make keys that
    # the local cache cannot map to one file each, and '/p/' and 'p' would name one place twice.
    if prefix is not None and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise ConfigError(
            f"{source}: key 'firehoseDeliveryPrefix' must be a non-empty S3 key prefix without a leading or "
            f"trailing '/' or empty, '.' or '..' segments (e.g. 'dynamodb-backups'), got {prefix!r}"
        )
    for key in ("tableNameMatchRegex", "tableNameExcludeRegex"):
        pattern = values.get(_KEYS[key])
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{source}: key '{key}' is not a valid regex ({exc}): {pattern!r}") from None
    topic = values.get("alarm_topic_arn")
    if topic is not None and not re.fullmatch(r"arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]{1,256}", topic):
        raise ConfigError(
            f"{source}: key 'alarmTopicArn' must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got {topic!r}"
        )
    email = values.get("alarm_email")
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise ConfigError(f"{source}: key 'alarmEmail' must be one email address, got {email!r}")
    _check_tenant(values, source)
    _check_athena(values, source)
    if values.get("opt_in_hook"):
        load_hook(values["opt_in_hook"], source)
    return Config(**values)


# Dynamic partitioning has no zero buffering: Firehose wants at least 64 MB and 60 s.
PARTITIONED_MIN_MB = 64
PARTITIONED_MIN_SECONDS = 60


def _check_tenant(values: dict[str, Any], source: str) -> None:
    attribute = values.get("tenant_attribute")
    if attribute is None:
        return
    # A plain attribute name: it is spliced into Firehose's JQ query and named in IAM examples.
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,255}", attribute):
        raise ConfigError(
            f"{source}: key 'tenantAttribute' must be a top-level attribute name of letters, digits, "
            f"'_', '.' or '-' (e.g. 'tenantId'), got {attribute!r}"
        )
    size = values.get("firehose_delivery_size_mb", PARTITIONED_MIN_MB)
    interval = values.get("firehose_delivery_interval_seconds", PARTITIONED_MIN_SECONDS)
    # Refused, not raised quietly: the buffer sets the data's delay and the cost estimate.
    if size < PARTITIONED_MIN_MB or interval < PARTITIONED_MIN_SECONDS:
        raise ConfigError(
            f"{source}: key 'tenantAttribute' needs Firehose dynamic partitioning, whose buffer is at least "
            f"{PARTITIONED_MIN_MB} MB and {PARTITIONED_MIN_SECONDS} s; set firehoseDeliverySizeMB >= "
            f"{PARTITIONED_MIN_MB} and firehoseDeliveryIntervalSeconds >= {PARTITIONED_MIN_SECONDS} "
            f"(now {size} MB, {interval} s)"
        )


def _check_athena(values: dict[str, Any], source: str) -> None:
    # Both names go into Athena SQL and API calls unquoted: allow only what Athena allows.
    for key, pattern, want in (
        ("athenaWorkgroup", r"[a-zA-Z0-9._-]{1,128}", "letters, digits, '.', '_' or '-' (1-128)"),
        ("athenaDatabase", r"[a-z0-9_]{1,255}", "lower-case letters, digits or '_' (Athena's database names)"),
    ):
        value = values.get(_KEYS[key])
        if value is not None and not re.fullmatch(pattern, value):
            raise ConfigError(f"{source}: key '{key}' must be {want}, got {value!r}")
    output = values.get("athena_output_location")
    if output is not None and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?", output):
        raise ConfigError(
            f"{source}: key 'athenaOutputLocation' must be an s3:// URL (s3://BUCKET/PATH/), got {output!r}"
        )


def load_hook(spec: str, source: str = "config") -> Callable[[str], bool]:
    """Import an optInHook given as 'module:function'."""
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise ConfigError(f"{source}: key 'optInHook' must look like 'module:function', got {spec!r}")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"{source}: key 'optInHook' cannot be imported ({exc}); put the module on PYTHONPATH"
        ) from None
    if not callable(func):
        raise ConfigError(f"{source}: key 'optInHook' names {spec!r}, which is not callable")
    return func  # type: ignore[no-any-return]


def read_hjson(path: str | Path, what: str = "config") -> Any:
    """Parse an hjson file; malformed input becomes a ConfigError with its line number."""
    import hjson  # only files are hjson: the functions get their config as JSON, and need no hjson

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} file {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} file {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:  # hjson keeps the last silently: a typo'd override must not pass unseen
                raise ConfigError(f"{what} file {path}: key '{key}' is given twice; keep one")
            seen[key] = value
        return seen

    try:
        return hjson.loads(text, object_pairs_hook=no_duplicates)
    except hjson.HjsonDecodeError as exc:
        raise ConfigError(f"{what} file {path}: malformed hjson at line {exc.lineno}: {exc.msg}") from None
    except OverflowError:  # hjson's number parser: 1e999 overflows a float
        raise ConfigError(f"{what} file {path}: a number too large for a 64-bit float; check the values") from None


def load_config(path: str | Path, region: str | None = None) -> Config:
    """Load and validate a config file; `region` (a flag) wins over the file and environment."""
    data = read_hjson(path)
    config = config_from_mapping(data, str(path))
    resolved = region or config.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return config.replace(region=resolved)


def config_from_env(environ: Mapping[str, str] | None = None) -> Config:
    """The config a deployed Lambda function carries in its environment."""
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV_CONFIG)
    if not raw:
        raise ConfigError(f"environment variable {ENV_CONFIG} is not set; redeploy with deploy.py")
    config = config_from_mapping(json.loads(raw), ENV_CONFIG)
    return config if config.region else config.replace(region=environ.get("AWS_REGION"))
