"""core/aws.py: botocore's exceptions become the package's typed errors, by hand-built
ClientErrors and through wrapped clients against moto."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from dynamo_continuous_backup.core.aws import Clients, read_object, table_must_exist, translate, wrap
from dynamo_continuous_backup.core.errors import (
    AccessDeniedError,
    AwsError,
    AwsNotFoundError,
    ConfigError,
    ConflictError,
    NotFoundError,
    QuotaExceededError,
    TableNotFoundError,
    ThrottledError,
)

from ..fakes import client_error
from ..helpers import BUCKET, REGION


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


# -- wrapped clients against moto --------------------------------------------------------------


def create(aws: Clients, name: str) -> None:
    aws.dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_describing_a_missing_table_raises_aws_not_found(aws: Clients) -> None:
    with pytest.raises(AwsNotFoundError) as caught:
        aws.dynamodb.describe_table(TableName="nosuch")
    assert caught.value.operation == "DescribeTable" and caught.value.exit_code == 3


def test_a_paginator_page_raises_typed_errors_too(aws: Clients) -> None:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName="nosuch")
    with pytest.raises(AwsNotFoundError):
        list(pages)
    with pytest.raises(AwsNotFoundError) as caught:
        list(aws.s3.get_paginator("list_objects_v2").paginate(Bucket="no-such-bucket"))
    assert caught.value.code == "NoSuchBucket"


def test_creating_a_table_twice_is_a_conflict(aws: Clients) -> None:
    create(aws, "twice")
    with pytest.raises(ConflictError) as caught:
        create(aws, "twice")
    assert caught.value.code == "ResourceInUseException"


def test_wrap_types_the_errors_of_a_client_made_elsewhere(aws: Clients) -> None:
    raw = boto3.client("dynamodb", region_name=REGION)  # AWS_ENDPOINT_URL points it at moto
    with pytest.raises(ClientError):
        raw.describe_table(TableName="nosuch")
    with pytest.raises(AwsNotFoundError):
        wrap(raw).describe_table(TableName="nosuch")
    assert wrap(aws.dynamodb) is aws.dynamodb  # wrapping twice changes nothing


def test_read_object_answers_none_for_a_missing_key_but_raises_for_a_missing_bucket(aws: Clients) -> None:
    aws.s3.create_bucket(Bucket=BUCKET)
    aws.s3.put_object(Bucket=BUCKET, Key="there", Body=b"x")
    assert read_object(aws.s3, BUCKET, "there") == b"x" and read_object(aws.s3, BUCKET, "absent") is None
    with pytest.raises(AwsNotFoundError) as caught:
        read_object(aws.s3, "no-such-bucket", "there")
    assert caught.value.code == "NoSuchBucket"


def test_table_must_exist_turns_not_found_into_the_one_missing_table_error(aws: Clients) -> None:
    with pytest.raises(TableNotFoundError) as caught, table_must_exist("nosuch"):
        aws.dynamodb.scan(TableName="nosuch")
    assert str(caught.value) == "table nosuch does not exist: check the name and the region"
    assert caught.value.exit_code == 3
    with pytest.raises(ConflictError), table_must_exist("twice"):  # only not-found is changed
        create(aws, "twice")
        create(aws, "twice")
