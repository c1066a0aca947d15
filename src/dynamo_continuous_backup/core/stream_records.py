"""Typed DynamoDB Streams records: a read-only view of one record as Lambda delivers it or as
GetRecords returns it (like Powertools' DynamoDBRecord). The raw `dynamodb` dict is read here
and nowhere else, so the record's shape is known in one place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

_TIME = "ApproximateCreationDateTime"


class StreamRecord:
    """One stream record; every accessor reads the raw record, nothing is copied."""

    __slots__ = ("_ddb", "event_source_arn", "raw")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self._ddb: Mapping[str, Any] = raw["dynamodb"]
        # The stream's ARN: Lambda adds it to each record, GetRecords does not ("").
        self.event_source_arn: str = raw.get("eventSourceARN", "")

    @classmethod
    def checked(cls, raw: Any) -> StreamRecord:
        """A view of `raw`, or ValueError when it lacks what a Lambda stream record always has."""
        try:
            record = cls(raw)
            raw["eventName"], raw["eventID"], raw["eventSourceARN"], record._ddb["SequenceNumber"]  # noqa: B018
        except (KeyError, TypeError, IndexError, AttributeError):
            raise ValueError("not a DynamoDB stream record") from None
        return record

    @staticmethod
    def newest_creation_time(records: Iterable[StreamRecord]) -> float | None:
        """The newest ApproximateCreationDateTime of Lambda-shaped `records` (epoch seconds)."""
        found = [t for t in [r._ddb.get(_TIME) for r in records] if t is not None]
        return float(max(found)) if found else None

    @property
    def event_id(self) -> str:
        return str(self.raw["eventID"])

    @property
    def event_name(self) -> str:
        """INSERT, MODIFY or REMOVE."""
        return str(self.raw["eventName"])

    @property
    def keys(self) -> dict[str, Any]:
        return self._ddb["Keys"]  # type: ignore[no-any-return]

    @property
    def new_image(self) -> dict[str, Any] | None:
        return self._ddb.get("NewImage")

    @property
    def old_image(self) -> dict[str, Any] | None:
        return self._ddb.get("OldImage")

    @property
    def sequence_number(self) -> str:
        return str(self._ddb["SequenceNumber"])

    @property
    def size_bytes(self) -> int | None:
        return self._ddb.get("SizeBytes")

    @property
    def approximate_creation_time(self) -> float | None:
        """Epoch seconds: Lambda sends a number, GetRecords (boto3) a datetime."""
        value = self._ddb.get(_TIME)
        if isinstance(value, datetime):
            return value.timestamp()
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    @property
    def user_identity(self) -> dict[str, Any] | None:
        """Set on TTL deletions (the DynamoDB service is the principal)."""
        return self.raw.get("userIdentity")

    def item_key(self) -> tuple[Any, ...]:
        """The item's keys as a hashable value: equal for every change of one item."""
        return tuple(sorted((name, *value.items()) for name, value in self._ddb["Keys"].items()))

    def backup_record(self, table: str, label: str = "") -> dict[str, Any]:
        """The backup record (core/records.py's format) of this change; `label`: its stream's.
        On the forwarder's hot path: one dict built straight from the raw record."""
        ddb, raw = self._ddb, self.raw
        get = ddb.get
        out = {"Keys": ddb["Keys"]}  # the format's field order, one field at a time: no loop
        if (value := get("NewImage")) is not None:
            out["NewImage"] = value
        if (value := get("OldImage")) is not None:
            out["OldImage"] = value
        out["SequenceNumber"] = ddb["SequenceNumber"]
        if (value := get("SizeBytes")) is not None:
            out["SizeBytes"] = value
        if (value := get(_TIME)) is not None:
            out[_TIME] = value
        out["eventName"] = raw["eventName"]
        out["eventID"] = raw["eventID"]
        out["tableName"] = table
        if label:
            out["streamLabel"] = label
        if "userIdentity" in raw:
            out["userIdentity"] = raw["userIdentity"]
        return out

    def with_change(self, **fields: Any) -> dict[str, Any]:
        """A copy of the raw record whose `dynamodb` part has `fields` replaced (for the
        emulator, which reshapes GetRecords records into Lambda's)."""
        return {**self.raw, "dynamodb": {**self._ddb, **fields}}
