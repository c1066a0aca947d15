"""The backup record format: one JSON object per line (NDJSON), DynamoDB-JSON typed values.

Fields: Keys, NewImage (absent on REMOVE), OldImage (absent on INSERT), SequenceNumber
(string, compare numerically), SizeBytes, eventName, ApproximateCreationDateTime (epoch s),
eventID, tableName, streamLabel (the stream ARN's label: the record's generation; absent in
older files) and userIdentity when the stream carries it; core/stream_records.py maps a
stream record to it. A record too large for Firehose is replaced by a pointer line whose
`oversizeS3Key` names the full record. Several lines may travel in one Firehose record
(capture/batching.py); S3 holds the same lines either way.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any


def _binary(value: Any) -> str:
    """Binary values (bytes from the low-level client) as base64 text, as stream images carry them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


try:  # orjson is ~3.5x faster than json on the forwarder's hot path; json is the fallback
    import functools

    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj, default=_binary)

    # One C call per line, the newline appended by orjson: the forwarder's hot path.
    encode_line = functools.partial(orjson.dumps, default=_binary, option=orjson.OPT_APPEND_NEWLINE)
    loads = orjson.loads
except ImportError:  # where the deploy zip carries no orjson wheel for the platform

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=_binary).encode()

    def encode_line(obj: Any) -> bytes:  # type: ignore[misc]
        return dumps(obj) + b"\n"

    loads = json.loads  # type: ignore[assignment]

POINTER_FIELD = "oversizeS3Key"


def pointer_record(record: dict[str, Any], key: str) -> dict[str, Any]:
    """The line written to Firehose in place of an oversize record."""
    out = {k: v for k, v in record.items() if k not in ("NewImage", "OldImage")}
    out[POINTER_FIELD] = key
    return out


def iter_lines(data: bytes) -> Iterator[dict[str, Any]]:
    """Records in one backup object: gzip or plain NDJSON, as we or the original tool wrote it."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    for line in data.splitlines():
        if line.strip():
            yield loads(line)


def sequence_key(sequence_number: str) -> tuple[int, str]:
    """Numeric order for sequence numbers longer than 64 bits, without int parsing."""
    return (len(sequence_number), sequence_number)


def json_form(value: Any) -> Any:
    """Binary values as base64 text, as Lambda delivers images and as the records store them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: json_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_form(v) for v in value]
    return value


def wire_form(image: dict[str, Any]) -> dict[str, Any]:
    """A stored image as the low-level boto3 client takes it: B and BS values as bytes."""
    return {name: _wire_value(value) for name, value in image.items()}


def _wire_value(value: dict[str, Any]) -> dict[str, Any]:
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": base64.b64decode(inner)}
    if tag == "BS":
        return {"BS": [base64.b64decode(v) for v in inner]}
    if tag == "M":
        return {"M": wire_form(inner)}
    if tag == "L":
        return {"L": [_wire_value(v) for v in inner]}
    return value
