"""core/aws.py: botocore's exceptions become the package's typed errors (hand-built ClientErrors;
the same through wrapped clients against moto: tests/integration/test_translate.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError

from dynamo_continuous_backup.core.aws import translate
from dynamo_continuous_backup.core.errors import (
    AccessDeniedError,
    AwsError,
    AwsNotFoundError,
    ConfigError,
    ConflictError,
    NotFoundError,
    QuotaExceededError,
    ThrottledError,
)

from ..fakes import client_error


def test_not_found_is_an_aws_error_and_a_not_found_error_with_exit_3() -> None:
    error = translate(client_error("ResourceNotFoundException", "DescribeTable"))
    assert isinstance(error, AwsNotFoundError) and isinstance(error, NotFoundError)
    assert error.exit_code == 3 and error.code == "ResourceNotFoundException" and error.operation == "DescribeTable"
    assert not error.retryable and str(error).startswith("ResourceNotFoundException from DescribeTable")


def test_in_use_is_a_conflict() -> None:
    error = translate(client_error("ResourceInUseException", "UpdateTable"))
    assert type(error) is ConflictError and error.exit_code == 1 and not error.retryable


def test_throttling_is_throttled_and_retryable() -> None:
    error = translate(client_error("ThrottlingException", "Scan"))
    assert type(error) is ThrottledError and error.retryable and error.code == "ThrottlingException"


@pytest.mark.parametrize("code", ["AccessDenied", "AccessDeniedException", "403"])
def test_access_denied_including_a_bare_head_403(code: str) -> None:
    # S3 answers a HEAD request with the status alone: the code is "403"
    error = translate(client_error(code, "HeadBucket", status=403))
    assert type(error) is AccessDeniedError and not error.retryable


def test_firehose_stream_quota_names_the_quota_and_how_to_raise_it() -> None:
    exc = client_error(
        "LimitExceededException", "CreateDeliveryStream", message="You have reached the quota of 50 delivery streams"
    )
    error = translate(exc, "eu-west-1")
    assert type(error) is QuotaExceededError and not error.retryable
    assert '"Firehose delivery streams per Region"' in str(error) and "limit 50 in eu-west-1" in str(error)
    assert "Service Quotas" in error.fix and "--service-code firehose --region eu-west-1" in error.fix


def test_an_http_500_is_a_retryable_plain_aws_error() -> None:
    error = translate(client_error("SomethingBroke", "PutRecordBatch", status=500))
    assert type(error) is AwsError and error.retryable and error.code == "SomethingBroke"


def test_an_unknown_client_error_is_final() -> None:
    error = translate(client_error("ValidationException", "UpdateTable"))
    assert type(error) is AwsError and not error.retryable and error.code == "ValidationException"


def test_no_connection_is_retryable_and_names_the_endpoint() -> None:
    error = translate(EndpointConnectionError(endpoint_url="https://dynamodb.example.invalid"))
    assert type(error) is AwsError and error.retryable and "https://dynamodb.example.invalid" in str(error)


def test_our_own_errors_pass_through_unchanged() -> None:
    error = ConfigError("bad key")
    assert translate(error) is error
