"""Thin facade over boto3: sessions that honour the standard environment, adaptive retries,
error-code helpers and bounded waits with an injectable clock."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from .errors import WaitTimeoutError

CONTROL_PLANE = BotoConfig(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=10, read_timeout=60)
# The forwarder retries records itself within its deadline; botocore only smooths blips.
DATA_PLANE = BotoConfig(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


class Clients:
    """Lazily created clients from one session; the whole package takes one of these."""

    def __init__(
        self, region: str | None = None, session: boto3.Session | None = None, config: BotoConfig = CONTROL_PLANE
    ) -> None:
        self.session = session or boto3.Session(region_name=region)
        self.config = config

    @property
    def region(self) -> str:
        return self.session.region_name or "us-east-1"

    @functools.cache  # noqa: B019 - one client per service per Clients object is the point
    def get(self, service: str) -> Any:
        return self.session.client(service, config=self.config, region_name=self.region)

    @property
    def dynamodb(self) -> Any:
        return self.get("dynamodb")

    @property
    def streams(self) -> Any:
        return self.get("dynamodbstreams")

    @property
    def firehose(self) -> Any:
        return self.get("firehose")

    @property
    def lambda_(self) -> Any:
        return self.get("lambda")

    @property
    def s3(self) -> Any:
        return self.get("s3")

    @property
    def iam(self) -> Any:
        return self.get("iam")

    @property
    def events(self) -> Any:
        return self.get("events")

    @property
    def sts(self) -> Any:
        return self.get("sts")


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_code(exc: BaseException, *codes: str) -> bool:
    return error_code(exc) in codes


def wait_until(
    check: Callable[[], Any],
    what: str,
    timeout: float,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Poll `check` until it returns a truthy value; raise WaitTimeoutError after `timeout` s."""
    deadline = clock() + timeout
    while True:
        result = check()
        if result:
            return result
        if clock() >= deadline:
            raise WaitTimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        sleep(interval)
