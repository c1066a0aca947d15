"""moto adjustments for DynamoDB and its streams, where moto differs from AWS in a way that
matters here (each says why). `apply()` installs them all, once."""

from __future__ import annotations

import logging
from typing import Any

from ..core import stream_records

log = logging.getLogger(__name__)


def _disable_moto_lambda_delivery() -> None:
    from moto.awslambda.models import LambdaBackend

    def keep_records(self: Any, function_arn: str, items: list[Any], source: str) -> str:
        return ""  # falsy: moto keeps the shard's records for our poller

    LambdaBackend.send_dynamodb_items = keep_records  # type: ignore[method-assign,assignment]


def _keep_streams_of_deleted_tables() -> None:
    """AWS keeps a deleted table's stream readable for 24 hours; moto drops it with the table.
    Keep it, so mappings can drain what was written just before DeleteTable."""
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    if getattr(DynamoDBBackend, "_dcb_patched", False):
        return
    original_delete = DynamoDBBackend.delete_table
    original_lookup = DynamoDBStreamsBackend._get_table_from_arn

    def delete_table(self: Any, name: str) -> Any:
        table = original_delete(self, name)
        if getattr(table, "stream_shard", None) is not None:
            _GRAVEYARD[(self.account_id, self.region_name, str(table.latest_stream_label))] = table
        return table

    def lookup(self: Any, arn: str) -> Any:
        label = arn.rsplit("/stream/", 1)[-1]
        try:
            table = original_lookup(self, arn)
            if "/stream/" not in arn or table.latest_stream_label == label:
                return table
        except ResourceNotFoundException:  # moto's own (inside the server): the table was deleted
            pass
        found = _GRAVEYARD.get((self.account_id, self.region_name, label))
        if found is None:
            return original_lookup(self, arn)
        return found

    DynamoDBBackend.delete_table = delete_table  # type: ignore[method-assign]
    DynamoDBStreamsBackend._get_table_from_arn = lookup  # type: ignore[method-assign]
    DynamoDBBackend._dcb_patched = True  # type: ignore[attr-defined]


_GRAVEYARD: dict[tuple[str, str, str], Any] = {}


def _disabled_streams_stop_capturing() -> None:
    """On AWS a disabled stream captures no more writes, stays readable for 24 hours, and the
    table can get a new stream; moto keeps appending to it (failing with KeyError
    'StreamViewType' on the next write) and refuses a new one. Retire the old stream beside
    deleted tables' ones, where the streams API still finds it."""
    import copy

    from moto.dynamodb.models.table import Table

    if getattr(Table, "_dcb_patched", False):
        return
    original = Table.set_stream_specification

    def set_stream_specification(self: Any, streams: dict[str, Any] | None) -> None:
        shard, label, spec = self.stream_shard, self.latest_stream_label, self.stream_specification
        original(self, streams)
        if shard is not None and not (self.stream_specification or {}).get("StreamEnabled"):
            retired = copy.copy(self)
            retired.stream_shard, retired.stream_specification = shard, spec
            shard.table = retired
            _GRAVEYARD[(self.account_id, self.region_name, str(label))] = retired
            self.stream_shard, self.latest_stream_label = None, None

    Table.set_stream_specification = set_stream_specification  # type: ignore[method-assign]
    Table._dcb_patched = True  # type: ignore[attr-defined]


def _binary_keys_in_stream_records() -> None:
    """moto writes a binary key into a stream record's `Keys` already base64-encoded, and its
    GetRecords serializer encodes it again, so clients decode the base64 text instead of the
    key's bytes (`NewImage`/`OldImage` are right). Keep the raw bytes there, as in the images."""
    from moto.dynamodb.models.table import StreamRecord

    if getattr(StreamRecord, "_dcb_patched", False):
        return
    original_init = StreamRecord.__init__

    def init(self: Any, table: Any, stream_type: str, event_name: str, old: Any, new: Any, seq: int) -> None:
        original_init(self, table, stream_type, event_name, old, new, seq)
        item = old if old is not None else new
        keys = stream_records.StreamRecord(self.record).keys  # moto's own record: patched in place
        for attr, key in ((table.hash_key_attr, item.hash_key), (table.range_key_attr, item.range_key)):
            if key is not None and key.type == "B" and isinstance(key.value, bytes):
                keys[attr] = {"B": key.value}

    StreamRecord.__init__ = init  # type: ignore[method-assign]
    StreamRecord._dcb_patched = True  # type: ignore[attr-defined]


def _segmented_scan_of_binary_hash_keys() -> None:
    """moto picks an item's Scan segment from `hash_key.value.encode()`, which fails with a
    500 when the hash key is binary (bytes). Hash the bytes themselves: the segment is still
    a stable function of the hash key, as in AWS."""
    import hashlib

    from moto.dynamodb.models.dynamo_type import Item

    if getattr(Item, "_dcb_patched", False):
        return
    original = Item.is_within_segment

    def is_within_segment(self: Any, segments: Any) -> bool:
        value = self.hash_key.value
        if segments == (None, None) or not isinstance(value, bytes):
            return bool(original(self, segments))
        segment, total = segments
        return bool(hashlib.md5(value).digest()[0] % total == segment)

    Item.is_within_segment = is_within_segment  # type: ignore[method-assign]
    Item._dcb_patched = True  # type: ignore[attr-defined]


def apply() -> None:
    _disable_moto_lambda_delivery()
    _keep_streams_of_deleted_tables()
    _disabled_streams_stop_capturing()
    _binary_keys_in_stream_records()
    _segmented_scan_of_binary_hash_keys()


def forget_deleted_streams() -> None:
    """On reset: the kept streams of deleted tables go with everything else."""
    _GRAVEYARD.clear()
