"""The forwarder against an in-memory Firehose: the record format, which errors end the retries,
and the refusal of an event of unknown shape before any AWS call."""

from __future__ import annotations

from itertools import accumulate
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from dynamo_continuous_backup import forwarder
from dynamo_continuous_backup.capture.batching import MAX_RECORD_BYTES
from dynamo_continuous_backup.capture.forwarder import Forwarder
from dynamo_continuous_backup.core.errors import UserInputError

from ..fakes import FakeFirehose, LambdaContext, client_error, first, from_call, load_event, stream_event
from ..helpers import make_forwarder, timed_forwarder

NO_FAILURES: dict[str, Any] = {"batchItemFailures": []}


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
    # GIVEN 1,200 records of ~8 KB (three PutRecordBatch calls' worth) whose second call fails for good
    event = stream_event("orders", 1200, payload=5000)
    firehose = FakeFirehose(fail=from_call(2, client_error(code, "PutRecordBatch", status)))
    fwd, sleeps = timed_forwarder(firehose)
    response = forwarder.handler(event, LambdaContext(300), fwd)
    # THEN no retry, no third call, and Lambda resumes at the first change of the failed call
    assert len(firehose.calls) == 2 and sleeps == []
    first_of_second_call = sum(firehose.records[: firehose.calls[0]])
    assert 0 < first_of_second_call < 1200
    resume = event["Records"][first_of_second_call]["dynamodb"]["SequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": resume}]}


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


def test_aggregated_records_carry_the_same_lines_as_one_record_per_change() -> None:
    # GIVEN 1,200 changes, forwarded once one per Firehose record (the former design) and once aggregated
    event = stream_event("orders", 1200)
    single, aggregated = FakeFirehose(), FakeFirehose()
    assert forwarder.handler(event, None, Forwarder(single, None, "b", "p", lines_per_record=1)) == NO_FAILURES
    assert forwarder.handler(event, None, Forwarder(aggregated, None, "b", "p")) == NO_FAILURES
    # THEN Firehose gets the very same lines, in the same order, in far fewer records
    assert aggregated.lines == single.lines and len(single.lines) == 1200
    assert single.records == [1] * 1200 and single.calls == [500, 500, 200]
    assert aggregated.records == [500, 500, 200] and aggregated.calls == [3]
    # AND each line is one whole change, newline-terminated
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in aggregated.lines)


def test_big_changes_fill_a_record_up_to_1000_kib() -> None:
    event = stream_event("orders", 1500, payload=2000)
    firehose = FakeFirehose()
    assert forwarder.handler(event, None, Forwarder(firehose, None, "b", "p")) == NO_FAILURES
    assert len(firehose.lines) == 1500 and max(firehose.records) < 500
    # each record as full as 1,000 KiB allows: the next change would not have fitted
    sizes = [len(line) for line in firehose.lines]
    assert max(firehose.sizes) <= MAX_RECORD_BYTES
    ends = list(accumulate(firehose.records))
    assert all(firehose.sizes[n] + sizes[end] > MAX_RECORD_BYTES for n, end in enumerate(ends[:-1]))
    assert all(n > 0 for n in firehose.records) and sum(firehose.records) == 1500


def test_a_failed_aggregated_record_fails_every_change_in_it_and_lambda_resumes_at_its_first() -> None:
    # GIVEN 1,000 changes in two aggregated records; Firehose rejects the second, then every retry
    event = stream_event("orders", 1000, keys=2000)  # (nearly) one change per item: no later same-key re-sends
    firehose = FakeFirehose(reject=lambda call, position: call > 1 or position == 1)
    fwd, sleeps = timed_forwarder(firehose)
    # WHEN the forwarder runs out of time retrying
    response = forwarder.handler(event, LambdaContext(30), fwd)
    # THEN none of the rejected record's changes counts as delivered, and Lambda resumes at its first change
    assert firehose.records[:2] == [500, 500] and sleeps
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][500]["dynamodb"]["SequenceNumber"]}]}
    assert [r["SequenceNumber"] for r in firehose.accepted] == [
        r["dynamodb"]["SequenceNumber"] for r in event["Records"][:500]
    ]


def test_a_failed_aggregated_record_is_resent_with_every_later_change_of_its_items() -> None:
    # GIVEN 1,000 changes of 20 items in two records, the first rejected once
    event = stream_event("orders", 1000, keys=20)
    firehose = FakeFirehose(reject=lambda call, position: call == 1 and position == 0)
    fwd, _ = timed_forwarder(firehose)
    # WHEN the forwarder retries
    assert forwarder.handler(event, LambdaContext(300), fwd) == NO_FAILURES
    # THEN every change arrived, and each item's newest copy is its newest change (per-item order)
    assert {r["SequenceNumber"] for r in firehose.accepted} == {
        r["dynamodb"]["SequenceNumber"] for r in event["Records"]
    }
    newest: dict[str, str] = {}
    for record in firehose.accepted:
        newest[record["Keys"]["pk"]["S"]] = record["SequenceNumber"]
    expected: dict[str, str] = {}
    for r in event["Records"]:
        expected[r["dynamodb"]["Keys"]["pk"]["S"]] = r["dynamodb"]["SequenceNumber"]
    assert newest == expected
