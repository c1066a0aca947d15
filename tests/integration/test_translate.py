"""core/aws.py: wrapped clients against moto raise the package's typed errors (the translation
of hand-built ClientErrors: tests/unit/test_translate.py)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from dynamo_continuous_backup.core.aws import Clients, read_object, table_must_exist, wrap
from dynamo_continuous_backup.core.errors import AwsNotFoundError, ConflictError, TableNotFoundError

from ..helpers import BUCKET, REGION


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
