"""The tests' one set of fakes: AWS errors as botocore raises them, clients that fail on cue
(in memory, or in front of moto's), stream events, and the opt-in hooks configs name.

A fake is handed to the code under test in place of a boto3 client; the code wraps it
(`core.aws.wrap`, or `clients_with` below), so its ClientErrors arrive as the typed errors
production sees.
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from dynamo_continuous_backup.core.aws import Clients, wrap

EVENTS = Path(__file__).parent / "events"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/2026-01-01T00:00:00.000"

# How call n (counted from 1) of a fake fails: an exception to raise, or None to answer.
Failure = Callable[[int], Exception | None]


def never(n: int) -> None:
    """Every call answers."""
    return None


# -- AWS errors ------------------------------------------------------------------------------


def client_error(code: str, operation: str, status: int = 400, message: str | None = None) -> ClientError:
    """The exception a boto3 client raises when AWS answers `operation` with `code`."""
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


def first(calls: int, error: Exception) -> Failure:
    """Fail the first `calls` calls with `error`, then answer."""
    return lambda n: error if n <= calls else None


def from_call(call: int, error: Exception) -> Failure:
    """Answer until call `call`, then fail it and every later one with `error`."""
    return lambda n: error if n >= call else None


class MotoFault:
    """A moto backend method answering with an AWS error while `on` (the embedded server runs
    in this process, so the error reaches the code under test through the real HTTP API)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, backend: type, method: str, code: str, message: str) -> None:
        from moto.core.exceptions import JsonRESTError  # here: unit tests never load moto

        self.on = True
        working = getattr(backend, method)
        fault = self

        def answer(self: Any, *args: Any, **kwargs: Any) -> Any:
            if fault.on:
                raise JsonRESTError(code, message)
            return working(self, *args, **kwargs)

        monkeypatch.setattr(backend, method, answer)


# -- clients that fail on cue ----------------------------------------------------------------


def clients_with(aws: Clients | None = None, **fakes: Any) -> Clients:
    """`aws`'s clients, but each service named here is the fake given (wrapped like a real one).
    Without `aws` (a unit test) only the fakes exist: any other service is a test error."""
    region = aws.region if aws else "us-east-1"
    clients = Clients(region, aws.session if aws else None)
    wrapped = {service: wrap(fake, region) for service, fake in fakes.items()}

    def get(service: str) -> Any:
        if service in wrapped:
            return wrapped[service]
        if aws is None:
            raise AssertionError(f"the test gave no fake {service} client")
        return aws.get(service)

    clients.get = get  # type: ignore[method-assign]
    return clients


class Proxy:
    """Every call the fake does not define goes to the real client behind it."""

    real: Any = None

    def __getattr__(self, name: str) -> Any:
        if self.real is None:
            raise AttributeError(f"{type(self).__name__} has no real client for {name}")
        return getattr(self.real, name)


class FakeFirehose(Proxy):
    """PutRecordBatch in memory, or in front of a real Firehose: fails calls on cue (`fail`), a
    seeded share of their records (`record_failure`) or the records `reject(call, position)`
    names; `calls` holds each call's record count, `records` each Firehose record's line count,
    `accepted` the changes (lines) of the records Firehose took, in order."""

    def __init__(
        self,
        real: Any = None,
        record_failure: float = 0.0,
        fail: Failure = never,
        seed: int = 7,
        reject: Callable[[int, int], bool] = lambda call, position: False,
    ) -> None:
        self.real, self.record_failure, self.fail, self.reject = real, record_failure, fail, reject
        self.rng = random.Random(seed)
        self.calls: list[int] = []
        self.records: list[int] = []
        self.sizes: list[int] = []  # each Firehose record's bytes
        self.accepted: list[dict[str, Any]] = []
        self.lines: list[bytes] = []  # the accepted changes' lines, as S3 gets them

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(len(Records))
        self.records += [r["Data"].count(b"\n") for r in Records]
        self.sizes += [len(r["Data"]) for r in Records]
        error = self.fail(len(self.calls))
        if error is not None:
            raise error
        failed = [
            self.rng.random() < self.record_failure or self.reject(len(self.calls), n) for n in range(len(Records))
        ]
        kept = [r for r, f in zip(Records, failed, strict=True) if not f]
        if kept and self.real is not None:
            self.real.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=kept)
        self.lines += [line for r in kept for line in r["Data"].splitlines(keepends=True)]
        self.accepted += [orjson.loads(line) for r in kept for line in r["Data"].splitlines()]
        responses = [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"} if f else {"RecordId": "x"}
            for f in failed
        ]
        return {"FailedPutCount": sum(failed), "RequestResponses": responses}


class Failing(Proxy):
    """A real client whose one operation (`create_delivery_stream`, ...) always fails with `error`."""

    def __init__(self, real: Any, operation: str, error: Exception) -> None:
        self.real, self.operation, self.error = real, operation, error

    def __getattr__(self, name: str) -> Any:
        if name == self.operation:
            raise_it = self.error

            def fail(**_: Any) -> Any:
                raise raise_it

            return fail
        return super().__getattr__(name)


class Killed(BaseException):
    """Stands for the process dying (not an error the code may catch)."""


class FaultyDynamo(Proxy):
    """A real DynamoDB whose Scan is throttled a seeded share of the time, and which dies
    (`Killed`) when segment `kill_segment` has been scanned `kill_after` times."""

    def __init__(self, real: Any, throttle: float = 0.0, kill_segment: int | None = None, kill_after: int = 0) -> None:
        self.real, self.throttle, self.rng = real, throttle, random.Random(5)
        self.kill_segment, self.kill_after = kill_segment, kill_after
        self.scans: Counter[int] = Counter()
        self.throttled = 0

    def scan(self, **kwargs: Any) -> Any:
        segment = kwargs["Segment"]
        if self.rng.random() < self.throttle:
            self.throttled += 1
            raise client_error("ProvisionedThroughputExceededException", "Scan", message="slow")
        if segment == self.kill_segment and self.scans[segment] >= self.kill_after:
            raise Killed()
        self.scans[segment] += 1
        return self.real.scan(**kwargs)


class StormyDynamo(Proxy):
    """BatchWriteItem in memory (`items`), or in front of a real DynamoDB, that leaves a seeded
    share of every batch unprocessed, or fails calls on cue (`fail`); counts what it left."""

    def __init__(self, real: Any = None, leave: float = 0.6, fail: Failure = never, seed: int = 2) -> None:
        self.real, self.leave, self.fail, self.rng = real, leave, fail, random.Random(seed)
        self.calls: list[int] = []  # requests per call
        self.unprocessed = 0
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # the code under test writes from several threads

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # noqa: N803
        ((table, requests),) = RequestItems.items()
        with self._lock:
            self.calls.append(len(requests))
            error = self.fail(len(self.calls))
            keep = [r for r in requests if self.rng.random() < 1 - self.leave]
        if error is not None:
            raise error
        rest = [r for r in requests if r not in keep]
        if keep and self.real is not None:
            self.real.batch_write_item(RequestItems={table: keep})
        with self._lock:
            self.items += [r["PutRequest"]["Item"] for r in keep if "PutRequest" in r]
            self.unprocessed += len(rest)
        return {"UnprocessedItems": {table: rest} if rest else {}}


class FakeS3:
    """S3's object calls in memory: `objects` maps each key to its body."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.objects[Key] = Body
        return {}

    def get_object(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        if Key not in self.objects:
            raise client_error("NoSuchKey", "GetObject", 404)
        return {"Body": io.BytesIO(self.objects[Key])}


class ImportingDynamo:
    """ImportTable in memory: an import is IN_PROGRESS for `polls` DescribeImport calls, then
    ends `status`, with `failure` (code, message) when it did not complete."""

    def __init__(self, polls: int = 2, status: str = "COMPLETED", failure: tuple[str, str] = ("", "")) -> None:
        self.polls, self.status, self.failure = polls, status, failure
        self.imports: list[dict[str, Any]] = []  # the ImportTable requests
        self.described = 0

    def import_table(self, **request: Any) -> dict[str, Any]:
        self.imports.append(request)
        return {"ImportTableDescription": self._description("IN_PROGRESS")}

    def describe_import(self, ImportArn: str) -> dict[str, Any]:  # noqa: N803
        self.described += 1
        return {
            "ImportTableDescription": self._description("IN_PROGRESS" if self.described < self.polls else self.status)
        }

    def _description(self, status: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ImportArn": f"arn:aws:dynamodb:us-east-1:1:table/t/import/{len(self.imports)}",
            "ImportStatus": status,
        }
        if status not in ("IN_PROGRESS", "COMPLETED"):
            out["FailureCode"], out["FailureMessage"] = self.failure
        return out


class TableVanishes(Proxy):
    """A real DynamoDB whose table is deleted right after its stream is enabled (DeleteTable racing)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def update_table(self, **kwargs: Any) -> Any:
        out = self.real.update_table(**kwargs)
        self.real.delete_table(TableName=kwargs["TableName"])
        return out


# -- what `estimate` observes ------------------------------------------------------------------


class DescribedDynamo:
    """DescribeTable in memory: `tables` maps a name to its description (others do not exist)."""

    def __init__(self, **tables: dict[str, Any]) -> None:
        self.tables = tables

    def describe_table(self, TableName: str) -> dict[str, Any]:  # noqa: N803
        if TableName not in self.tables:
            raise client_error("ResourceNotFoundException", "DescribeTable", 400, f"Table: {TableName} not found")
        return {"Table": {"TableName": TableName, **self.tables[TableName]}}


class FakeCloudWatch:
    """GetMetricStatistics answering `sums` as daily Sum data points, or failing with `error`."""

    def __init__(self, sums: tuple[float, ...] = (), error: Exception | None = None) -> None:
        self.sums, self.error = sums, error

    def get_metric_statistics(self, **_: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return {"Datapoints": [{"Sum": s, "Unit": "Count"} for s in self.sums]}


class FakeServiceQuotas:
    """ListServiceQuotas / ListAWSDefaultServiceQuotas answering `applied` / `default` quota lists,
    or raising the error given instead of a list."""

    def __init__(self, applied: list[dict[str, Any]] | Exception, default: list[dict[str, Any]] | Exception) -> None:
        self.answers = {"list_service_quotas": applied, "list_aws_default_service_quotas": default}

    def get_paginator(self, operation: str) -> Any:
        answer = self.answers[operation]

        class Pages:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                if isinstance(answer, Exception):
                    raise answer
                return [{"Quotas": answer}]

        return Pages()


class ListedFirehose:
    """ListDeliveryStreams over `names`, `page` names a call (so a count must follow HasMore)."""

    def __init__(self, names: list[str], page: int = 2) -> None:
        self.names, self.page = sorted(names), page

    def list_delivery_streams(self, Limit: int, ExclusiveStartDeliveryStreamName: str = "") -> dict[str, Any]:  # noqa: N803
        rest = [n for n in self.names if n > ExclusiveStartDeliveryStreamName]
        return {"DeliveryStreamNames": rest[: self.page], "HasMoreDeliveryStreams": len(rest) > self.page}


class MotoTableSize:
    """moto's DescribeTable with a TableSizeBytes of `size` (moto always says 0; AWS updates it
    about every six hours)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
        from moto.dynamodb.models.table import Table  # here: unit tests never load moto

        working = Table.describe

        def describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
            out = working(self, base_key)
            out[base_key]["TableSizeBytes"] = size
            return out

        monkeypatch.setattr(Table, "describe", describe)


# -- Lambda and its events -------------------------------------------------------------------


class LambdaContext:
    """Lambda's context with `seconds` left, on the code's own (fake) clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def load_event(name: str) -> dict[str, Any]:
    """A sample event of tests/events/."""
    return dict(json.loads((EVENTS / name).read_text()))


def sample_lines(name: str) -> list[dict[str, Any]]:
    """The records of an NDJSON sample of tests/events/ (a backup file as some writer left it)."""
    return [json.loads(line) for line in (EVENTS / name).read_text().splitlines()]


def stream_event(table: str, n: int, keys: int = 20, seed: int = 1, payload: int = 200) -> dict[str, Any]:
    """A DynamoDB Streams batch of `n` seeded INSERT/MODIFY/REMOVE records over `keys` items of `table`."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        key = {"pk": {"S": f"k{rng.randrange(keys)}"}}
        image = {**key, "v": {"N": str(i)}, "blob": {"S": "x" * payload}}
        name = rng.choice(["INSERT", "MODIFY", "REMOVE"])
        ddb: dict[str, Any] = {
            "Keys": key,
            "SequenceNumber": str(10**25 + i),
            "SizeBytes": 100,
            "ApproximateCreationDateTime": 1_700_000_000 + i,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if name != "REMOVE":
            ddb["NewImage"] = image
        if name != "INSERT":
            ddb["OldImage"] = image
        records.append(
            {"eventID": f"e{i}", "eventName": name, "eventSourceARN": STREAM_ARN.format(table), "dynamodb": ddb}
        )
    return {"Records": records}


# -- opt-in hooks a config names (`optInHook: "tests.fakes:only_even_length"`) -------------------


def only_even_length(table: str) -> bool:
    return len(table) % 2 == 0


def broken(table: str) -> bool:
    raise RuntimeError("hook is broken")


class FakeTime:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class FakeAthena:
    """Athena's query calls in memory. Each query answers GetQueryExecution with `states` in turn
    (the last repeats), ending with `reason` when it fails; StopQueryExecution cancels it.
    GetQueryResults pages `rows` (a header row first, as Athena does for a SELECT), `page` a page."""

    def __init__(
        self,
        states: tuple[str, ...] = ("QUEUED", "RUNNING", "SUCCEEDED"),
        reason: str = "",
        rows: list[tuple[str | None, ...]] | None = None,
        columns: tuple[str, ...] = (),
        page: int = 2,
    ) -> None:
        self.states, self.reason, self.rows, self.columns, self.page = states, reason, rows or [], columns, page
        self.started: list[dict[str, Any]] = []  # the StartQueryExecution requests
        self.polls: Counter[str] = Counter()
        self.stopped: list[str] = []

    def start_query_execution(self, **request: Any) -> dict[str, Any]:
        self.started.append(request)
        return {"QueryExecutionId": f"q{len(self.started)}"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803
        n = self.polls[QueryExecutionId]
        self.polls[QueryExecutionId] += 1
        state = "CANCELLED" if QueryExecutionId in self.stopped else self.states[min(n, len(self.states) - 1)]
        status: dict[str, Any] = {"State": state}
        if state in ("FAILED", "CANCELLED") and self.reason:
            status["StateChangeReason"] = self.reason
        return {"QueryExecution": {"QueryExecutionId": QueryExecutionId, "Status": status, "Statistics": {}}}

    def stop_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803
        self.stopped.append(QueryExecutionId)
        return {}

    def get_paginator(self, operation: str) -> Any:
        assert operation == "get_query_results"
        fake = self

        class Pages:
            def paginate(self, QueryExecutionId: str, **_: Any) -> Any:  # noqa: N803
                info = [{"Name": c, "Label": c} for c in fake.columns]
                rows = [tuple(fake.columns), *fake.rows]
                for start in range(0, len(rows), fake.page):
                    data = [
                        {"Data": [{} if v is None else {"VarCharValue": v} for v in r]}
                        for r in rows[start : start + fake.page]
                    ]
                    yield {"ResultSet": {"Rows": data, "ResultSetMetadata": {"ColumnInfo": info}}}

        return Pages()
