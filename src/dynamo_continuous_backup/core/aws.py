"""Thin facade over boto3: sessions that honour the standard environment, adaptive retries,
error-code helpers and bounded waits with an injectable clock."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from .errors import AwsError, QuotaExceededError, WaitTimeoutError

CONTROL_PLANE = BotoConfig(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=10, read_timeout=60)
# The forwarder retries records itself within its deadline; botocore only smooths blips.
DATA_PLANE = BotoConfig(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
# Errors botocore retries as throttling that are final: Firehose throttles its control plane
# with ThrottlingException, while LimitExceededException from CreateDeliveryStream means the
# account's count quota is used up, which no retry fixes (botocore would spend ~a minute per call).
FINAL_ERRORS = {("firehose", "CreateDeliveryStream"): frozenset({"LimitExceededException"})}


def _final(response: Any = None, operation: Any = None, **_: Any) -> bool | None:
    """needs-retry hook: False (do not retry) for a FINAL_ERRORS answer; None leaves it to botocore."""
    if not response or operation is None:
        return None
    code = (response[1] or {}).get("Error", {}).get("Code")
    service = operation.service_model.service_id.hyphenize()
    return False if code in FINAL_ERRORS.get((service, operation.name), ()) else None


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
        client = self.session.client(service, config=self.config, region_name=self.region)
        for svc, operation in FINAL_ERRORS:
            if svc == service:
                client.meta.events.register_first(f"needs-retry.{svc}.{operation}", _final)
        return client

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


# (operation, error code) -> (quota name as the Service Quotas console shows it, service code)
QUOTAS = {("CreateDeliveryStream", "LimitExceededException"): ("Firehose delivery streams per Region", "firehose")}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden"}
_BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
}
_NOT_FOUND = {"ResourceNotFoundException", "NoSuchEntity", "NoSuchKey", "NotFound", "404"}
_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}


def aws_error(exc: BaseException, region: str | None = None) -> AwsError | None:
    """One line for a failed AWS call: the error code, what failed and what to do (None if
    `exc` is not an AWS failure). The traceback is for --debug only."""
    if isinstance(exc, ClientError):
        return _client_error(exc, region)
    if isinstance(exc, NoCredentialsError):
        return AwsError("no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    if isinstance(exc, NoRegionError):
        return AwsError("no AWS region: set 'region' in the config, pass --region, or export AWS_REGION")
    if isinstance(exc, EndpointConnectionError):
        return AwsError(
            f"cannot reach {exc.kwargs.get('endpoint_url')}: check the network, AWS_REGION and AWS_ENDPOINT_URL"
        )
    if isinstance(exc, BotoCoreError):
        return AwsError(f"{type(exc).__name__}: {_short(str(exc))}; run again, or with --debug for the details")
    return None


def _client_error(exc: ClientError, region: str | None) -> AwsError:
    code = error_code(exc) or "UnknownError"
    operation = exc.operation_name
    message = _short(str(exc.response.get("Error", {}).get("Message") or "")).rstrip(".")
    quota = QUOTAS.get((operation, code))
    if quota:
        name, service = quota
        found = re.search(r"quota of (\d+)", message)
        limit = f"limit {found.group(1)}" if found else "its current limit"
        where = f" in {region}" if region else ""
        region_arg = f" --region {region}" if region else ""
        return QuotaExceededError(
            f'{code}: the quota "{name}" is used up ({limit}{where}); raise it with Service Quotas, '
            "then run this again",
            fix=f'raise the quota "{name}" ({limit}{where}) in the Service Quotas console (Request increase), '
            f"or find its QuotaCode with `aws service-quotas list-service-quotas --service-code {service}{region_arg}` "
            f"and run `aws service-quotas request-service-quota-increase --service-code {service} --quota-code CODE "
            f"--desired-value N{region_arg}` (N: the current limit plus the tables left unprotected); "
            "once granted, run this command again",
        )
    if code in _DENIED:
        todo = "grant the identity running this that permission (see README, IAM needs)"
    elif code in _BAD_CREDENTIALS:
        todo = "check AWS_PROFILE / the access keys, or log in again (e.g. aws sso login)"
    elif code == "NoSuchBucket":
        todo = "check firehoseDeliveryBucket and region in the config (deploy.py creates the bucket)"
    elif code in _NOT_FOUND:
        todo = "it does not exist (deleted meanwhile?): check the names and the region"
    elif code in _THROTTLED:
        todo = "AWS throttled even after retries: run again later or with a lower --concurrency"
    elif code.endswith("LimitExceededException") or code == "LimitExceeded":
        todo = "an AWS quota is reached: raise it in the Service Quotas console, then run again"
    elif (exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500:
        todo = "an AWS-side failure: run again later"
    else:
        todo = "run again with --debug for the details"
    return AwsError(f"{code} from {operation}: {message}: {todo}" if message else f"{code} from {operation}: {todo}")


def _short(text: str, limit: int = 200) -> str:
    """One line of at most `limit` characters (AWS messages can list every resource)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
