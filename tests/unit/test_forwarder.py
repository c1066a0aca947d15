"""The forwarder against an in-memory Firehose: the record format, which errors end the retries,
and the refusal of an event of unknown shape before any AWS call."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from dynamo_continuous_backup import forwarder
from dynamo_continuous_backup.core.errors import UserInputError

from ..fakes import FakeFirehose, LambdaContext, client_error, first, from_call, load_event, stream_event
from ..helpers import make_forwarder, timed_forwarder


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, {"Records": [{"eventID": "1"}]}, []])
def test_unknown_event_shape_is_one_clear_error(event: Any) -> None:
    with pytest.raises(UserInputError, match="forwarder:"):
        forwarder.handler(event, None, None)


def test_a_ttl_deletion_keeps_who_deleted_it() -> None:
    # GIVEN the stream record of an item TTL expired: a REMOVE by the DynamoDB service
    event = load_event("dynamodb-stream-ttl-delete.json")
    firehose = FakeFirehose()
    # WHEN the forwarder handles it
    assert forwarder.handler(event, None, make_forwarder(firehose)) == {"batchItemFailures": []}
    # THEN its backup record says so, beside the old image and no new one
    [record] = firehose.accepted
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert record["eventName"] == "REMOVE" and record["tableName"] == "sessions" and "NewImage" not in record
    assert record["OldImage"] == {"pk": {"S": "session-1"}, "expires": {"N": "1699990000"}}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ResourceNotFoundException", 400),
        ("AccessDeniedException", 400),
        ("AccessDenied", 403),
        ("InvalidArgumentException", 400),
        ("ValidationException", 400),
        ("InvalidKMSResourceException", 400),
    ],
)
def test_errors_waiting_cannot_fix_end_the_retries_at_once(code: str, status: int) -> None:
    # GIVEN 1,200 records (three PutRecordBatch calls' worth) whose second call fails for good
    event = stream_event("orders", 1200)
    firehose = FakeFirehose(fail=from_call(2, client_error(code, "PutRecordBatch", status)))
    fwd, sleeps = timed_forwarder(firehose)
    response = forwarder.handler(event, LambdaContext(300), fwd)
    # THEN no retry, no third call, and Lambda resumes at the first record of the failed call
    assert len(firehose.calls) == 2 and sleeps == []
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][500]["dynamodb"]["SequenceNumber"]}]}


@pytest.mark.parametrize(
    "error",
    [
        client_error("ServiceUnavailableException", "PutRecordBatch", 503),
        client_error("ThrottlingException", "PutRecordBatch", 400),
        client_error("InternalFailure", "PutRecordBatch", 500),
        client_error("SomethingNew", "PutRecordBatch", 502),
        EndpointConnectionError(endpoint_url="https://firehose.us-east-1.amazonaws.com"),
    ],
    ids=["unavailable", "throttled", "internal", "5xx", "network"],
)
def test_throttling_and_service_errors_are_retried_with_backoff(error: Exception) -> None:
    # GIVEN a Firehose that fails the first five calls with a transient error
    event = stream_event("orders", 300)
    firehose = FakeFirehose(fail=first(5, error))
    fwd, sleeps = timed_forwarder(firehose)
    # THEN the forwarder backs off and retries until the batch is delivered in this invocation
    assert forwarder.handler(event, LambdaContext(300), fwd) == {"batchItemFailures": []}
    assert len(firehose.calls) == 6 and len(sleeps) == 5
