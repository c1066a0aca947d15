"""The drain proof on a stream that is gone or trimmed: nothing of it can still reach S3, so
nothing is pending; any other AWS error is not taken for "gone"."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dynamo_continuous_backup.core.aws import Clients, wrap
from dynamo_continuous_backup.core.errors import AccessDeniedError
from dynamo_continuous_backup.provisioning.drain import stream_records

from ..fakes import Failing, client_error

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/gone/stream/2026-01-01T00:00:00.000"


@pytest.fixture
def stream(aws: Clients, make_table: Callable[..., str]) -> str:
    make_table("t", stream="NEW_AND_OLD_IMAGES")
    aws.dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}})
    return str(aws.dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"])


def test_a_stream_that_no_longer_exists_has_nothing_pending(aws: Clients) -> None:
    assert stream_records(aws.streams, STREAM, cutoff=2e9) == {}


def test_a_trimmed_stream_has_nothing_pending(aws: Clients, stream: str) -> None:
    assert len(stream_records(aws.streams, stream, cutoff=2e9) or {}) == 1
    trimmed = wrap(Failing(aws.streams, "get_records", client_error("TrimmedDataAccessException", "GetRecords")))
    assert stream_records(trimmed, stream, cutoff=2e9) == {}


def test_another_error_is_not_taken_for_a_gone_stream(aws: Clients, stream: str) -> None:
    with pytest.raises(AccessDeniedError):
        stream_records(
            wrap(Failing(aws.streams, "get_records", client_error("AccessDeniedException", "GetRecords"))),
            stream,
            cutoff=2e9,
        )
