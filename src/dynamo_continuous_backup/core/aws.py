"""The AWS facade: every boto3 client the package uses comes from `Clients`, and every call
through it raises the package's typed errors (core/errors.py) instead of botocore's, with
botocore's retry modes doing the throttling retries. Polling and backoff: core/retry.py."""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from .errors import (
    AccessDeniedError,
    AwsError,
    AwsNotFoundError,
    BackupError,
    ConflictError,
    QuotaExceededError,
    TableNotFoundError,
    ThrottledError,
)
from .retry import wait_until

__all__ = [
    "CONTROL_PLANE",
    "DATA_PLANE",
    "Clients",
    "read_object",
    "table_must_exist",
    "translate",
    "wait_until",
    "wrap",
]

CONTROL_PLANE = BotoConfig(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=10, read_timeout=60)
# The forwarder retries records itself within its deadline; botocore only smooths blips.
DATA_PLANE = BotoConfig(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
# Errors botocore retries as throttling that are final: Firehose throttles its control plane
# with ThrottlingException, while LimitExceededException from CreateDeliveryStream means the
# account's count quota is used up, which no retry fixes (botocore would spend ~a minute per call).
FINAL_ERRORS = {("firehose", "CreateDeliveryStream"): frozenset({"LimitExceededException"})}

# Error codes by what they mean for us. Codes differ by service (and moto sometimes says
# another than AWS); each list is the union.
NOT_FOUND = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NoSuchKey",
        "NoSuchBucket",
        "NotFound",
        "404",
        "TableNotFoundException",
        "ResourceNotFound",  # CloudWatch (as moto answers GetDashboard)
        "DashboardNotFoundError",  # CloudWatch (as AWS documents GetDashboard)
    }
)
CONFLICT = frozenset(
    {
        "ResourceInUseException",
        "ResourceConflictException",
        "ResourceAlreadyExistsException",
        "EntityAlreadyExists",
        "ConditionalCheckFailedException",
        "ConcurrentModificationException",
        "TransactionConflictException",
        "BucketAlreadyExists",
        "PreconditionFailed",
    }
)
THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "LimitExceededException",  # Firehose data plane and DynamoDB control plane rate limits
    }
)
TRANSIENT = frozenset(
    {
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
# "403" (like "404" above): S3 answers HEAD requests with a bare status and no error body.
DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden", "403"}
)
BAD_CREDENTIALS = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AuthFailure",
    }
)
# (operation, error code) -> (quota name as the Service Quotas console shows it, service code)
QUOTAS = {("CreateDeliveryStream", "LimitExceededException"): ("Firehose delivery streams per Region", "firehose")}


def _final(response: Any = None, operation: Any = None, **_: Any) -> bool | None:
    """needs-retry hook: False (do not retry) for a FINAL_ERRORS answer; None leaves it to botocore."""
    if not response or operation is None:
        return None
    code = (response[1] or {}).get("Error", {}).get("Code")
    service = operation.service_model.service_id.hyphenize()
    return False if code in FINAL_ERRORS.get((service, operation.name), ()) else None


class _ParsedOnce(botocore.loaders.JSONFileLoader):
    """botocore's JSON data files (service models, endpoint rules), each parsed once per process.
    Every boto3 session brings its own loader, which parses them again (~50 ms per service, and
    the garbage of it): a command or a test making several Clients paid that each time. Within
    one session botocore already shares a parsed file between clients; this shares it between sessions."""

    def __init__(self) -> None:
        self._parsed: dict[str, Any] = {}

    def load_file(self, file_path: str) -> Any:
        if file_path not in self._parsed:
            self._parsed[file_path] = super().load_file(file_path)
        return self._parsed[file_path]


_FILES = _ParsedOnce()


def _new_session(region: str | None = None) -> boto3.Session:
    """boto3.Session(region_name=region), its data files parsed once per process (_ParsedOnce)."""
    core = botocore.session.get_session()
    loader = botocore.loaders.create_loader(core.get_config_variable("data_path"))
    loader.file_loader = _FILES
    core.register_component("data_loader", loader)
    return boto3.Session(region_name=region, botocore_session=core)


class Clients:
    """Lazily created, error-translating clients from one session; the whole package takes one."""

    def __init__(
        self, region: str | None = None, session: boto3.Session | None = None, config: BotoConfig = CONTROL_PLANE
    ) -> None:
        self.session = session or _new_session(region)
        self.config = config
        # Per object, not functools.cache on the method: that cache is the class's and would keep
        # every Clients ever made (each client holds its service model, megabytes) for good.
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def region(self) -> str:
        return self.session.region_name or "us-east-1"

    def get(self, service: str) -> Any:
        """The service's client, made on first use (one per service per Clients object)."""
        with self._lock:  # threads share a Clients: a boto3 session is not safe to create clients from at once
            if service not in self._clients:
                client = self.session.client(service, config=self.config, region_name=self.region)
                for svc, operation in FINAL_ERRORS:
                    if svc == service:
                        client.meta.events.register_first(f"needs-retry.{svc}.{operation}", _final)
                self._clients[service] = wrap(client, self.region)
            return self._clients[service]

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

    @property
    def athena(self) -> Any:
        return self.get("athena")

    @property
    def cloudwatch(self) -> Any:
        return self.get("cloudwatch")


class _Translating:
    """A boto3 client (or paginator) whose calls raise core/errors.py's exceptions."""

    def __init__(self, target: Any, region: str | None) -> None:
        self._target = target
        self._region = region

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name == "get_paginator":
            return lambda op: _Translating(attr(op), self._region)
        if name == "paginate":
            return lambda **kw: _pages(attr, kw, self._region)
        if not callable(attr) or name.startswith("_") or name in ("can_paginate", "get_waiter"):
            return attr
        wrapped = _translated(attr, self._region)
        self.__dict__[name] = wrapped  # built once: the forwarder calls put_record_batch per batch
        return wrapped


def wrap(client: Any, region: str | None = None) -> Any:
    """`client` with typed errors (for clients made outside `Clients`, e.g. in tests)."""
    return client if isinstance(client, _Translating) else _Translating(client, region)


@contextlib.contextmanager
def table_must_exist(table: str) -> Iterator[None]:
    """AWS's not-found inside (DynamoDB calls on `table`) becomes TableNotFoundError(table)."""
    try:
        yield
    except AwsNotFoundError:
        raise TableNotFoundError(table) from None


def read_object(s3: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when the key does not exist (a missing bucket still raises)."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]
    except AwsNotFoundError as exc:
        if exc.code == "NoSuchBucket":
            raise
        return None


def _translated(call: Callable[..., Any], region: str | None) -> Callable[..., Any]:
    @functools.wraps(call)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, region) from exc

    return run


def _pages(paginate: Callable[..., Any], kwargs: dict[str, Any], region: str | None) -> Iterator[Any]:
    try:
        yield from paginate(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, region) from exc


def translate(exc: BaseException, region: str | None = None) -> BackupError:
    """The typed error, with one line saying what failed and what to do, for a failed AWS call
    (a BackupError passes through; anything else becomes a plain AwsError)."""
    if isinstance(exc, BackupError):
        return exc
    if isinstance(exc, ClientError):
        return _client_error(exc, region)
    if isinstance(exc, NoCredentialsError):
        return AccessDeniedError(
            "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, NoRegionError):
        return AwsError("no AWS region: set 'region' in the config, pass --region, or export AWS_REGION")
    if isinstance(exc, EndpointConnectionError):
        return AwsError(
            f"cannot reach {exc.kwargs.get('endpoint_url')}: check the network, AWS_REGION and AWS_ENDPOINT_URL",
            retryable=True,
        )
    return AwsError(
        f"{type(exc).__name__}: {_short(str(exc))}; run again, or with --debug for the details", retryable=True
    )


def _client_error(exc: ClientError, region: str | None) -> AwsError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "UnknownError")
    operation = exc.operation_name
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    message = _short(str(error.get("Message") or "")).rstrip(".")
    quota = QUOTAS.get((operation, code))
    if quota:
        return _quota_error(code, operation, message, quota, region)
    kind: type[AwsError] = AwsError
    retryable = False
    if code in DENIED:
        kind, todo = AccessDeniedError, "grant the identity running this that permission (see docs/iam.md)"
    elif code in BAD_CREDENTIALS:
        kind, todo = AccessDeniedError, "check AWS_PROFILE / the access keys, or log in again (e.g. aws sso login)"
    elif code == "NoSuchBucket":
        kind = AwsNotFoundError
        todo = "check firehoseDeliveryBucket and region in the config (deploy.py creates the bucket)"
    elif code in NOT_FOUND:
        kind, todo = AwsNotFoundError, "it does not exist (deleted meanwhile?): check the names and the region"
    elif code in CONFLICT:
        kind, todo = ConflictError, "it is in use or was changed meanwhile: run again in a minute"
    elif code in THROTTLED:
        kind, retryable = ThrottledError, True
        todo = "AWS throttled even after retries: run again later or with a lower --concurrency"
    elif code.endswith("LimitExceededException") or code == "LimitExceeded":
        kind = QuotaExceededError
        todo = "an AWS quota is reached: raise it in the Service Quotas console, then run again"
    elif code in TRANSIENT or status >= 500:
        retryable, todo = True, "an AWS-side failure: run again later"
    else:
        todo = "run again with --debug for the details"
    line = f"{code} from {operation}: {message}: {todo}" if message else f"{code} from {operation}: {todo}"
    return kind(line, code=code, operation=operation, retryable=retryable)


def _quota_error(code: str, operation: str, message: str, quota: tuple[str, str], region: str | None) -> AwsError:
    name, service = quota
    found = re.search(r"quota of (\d+)", message)
    limit = f"limit {found.group(1)}" if found else "its current limit"
    where = f" in {region}" if region else ""
    region_arg = f" --region {region}" if region else ""
    return QuotaExceededError(
        f'{code}: the quota "{name}" is used up ({limit}{where}); raise it with Service Quotas, then run this again',
        fix=f'raise the quota "{name}" ({limit}{where}) in the Service Quotas console (Request increase), '
        f"or find its QuotaCode with `aws service-quotas list-service-quotas --service-code {service}{region_arg}` "
        f"and run `aws service-quotas request-service-quota-increase --service-code {service} --quota-code CODE "
        f"--desired-value N{region_arg}` (N: the current limit plus the tables left unprotected); "
        "once granted, run this command again",
        code=code,
        operation=operation,
    )


def _short(text: str, limit: int = 200) -> str:
    """One line of at most `limit` characters (AWS messages can list every resource)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
