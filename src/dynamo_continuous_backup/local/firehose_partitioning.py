"""Firehose dynamic partitioning for the embedded emulator, which moto ignores (it writes every
record under Prefix + YYYY/MM/DD/HH/, `!{...}` and all). Only the query form the product
generates (provisioning/destination.py `tenant_query`) is evaluated; any other query or prefix
expression is refused loudly, since guessing would make the emulator pass what AWS might not.

The form: {KEY: ((TERM // ... // "DEFAULT") | if test("\\A[...]{m,n}\\z") then . else "BAD" end)}
where each TERM is a path of object keys (`.NewImage."tenantId".S`).

Processors, in Firehose's order: RecordDeAggregation (SubRecordType JSON) splits a record into
the JSON objects it holds, JSONL or back to back, as AWS documents it ("capped at 500 per
record"); MetadataExtraction evaluates the query per object; AppendDelimiterToRecord ends each
with a newline. AWS does not document what happens past 500 objects, nor to a record that is
not a sequence of JSON objects (an array, a scalar, text between objects): the emulator files
such a record whole under the error prefix, so going past the cap fails loudly in tests.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_FORM = re.compile(
    r'\{(?P<key>[A-Za-z_][A-Za-z0-9_]*): \(\((?P<chain>.+)\) \| if test\((?P<regex>"(?:[^"\\]|\\.)*")\) '
    r'then \. else (?P<bad>"(?:[^"\\]|\\.)*") end\)\}'
)
_SEGMENT = re.compile(r'\.(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<quoted>"(?:[^"\\]|\\.)*"))')
_EXPRESSION = re.compile(r"!\{(?P<namespace>[A-Za-z]+):(?P<value>[^}]*)\}")
_TIME_TOKENS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H"}
ERROR_TYPE = "processing-failed"  # where the emulator puts a record its query cannot evaluate
MAX_SUB_RECORDS = 500  # JSON de-aggregation's documented cap per record
_WHITESPACE = " \t\r\n"


class UnsupportedPartitioning(ValueError):
    """A query or prefix outside the form the emulator evaluates."""


@dataclass(frozen=True)
class TenantQuery:
    """A parsed query: the partition key, the `//` chain, the value test and its fallback."""

    key: str
    terms: tuple[tuple[str, ...] | str, ...]  # a path of keys, or the final string literal
    pattern: re.Pattern[str]
    bad: str

    def evaluate(self, record: Any) -> dict[str, str]:
        """The partition keys of one record, as JQ-1.6 computes them for this form."""
        value: Any = None
        for term in self.terms:
            value = term if isinstance(term, str) else _path(record, term)
            if value is not None and value is not False:  # `a // b`: a unless null or false
                break
        if not isinstance(value, str):  # jq's test() fails on anything but a string
            raise UnsupportedPartitioning(f"test() of a {type(value).__name__}")
        return {self.key: value if self.pattern.fullmatch(value) else self.bad}


def _path(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if value is None:
            return None
        if not isinstance(value, dict):  # jq: "Cannot index string with ..."
            raise UnsupportedPartitioning(f"cannot index a {type(value).__name__} with {key!r}")
        value = value.get(key)
    return value


def parse_query(query: str) -> TenantQuery:
    """Parse the product's own query form; anything else is UnsupportedPartitioning."""
    found = _FORM.fullmatch(query)
    if not found:
        raise UnsupportedPartitioning(f"the emulator evaluates only the product's tenant query, not {query!r}")
    terms: list[tuple[str, ...] | str] = []
    parts = found["chain"].split(" // ")
    for n, part in enumerate(parts):
        if part.startswith('"'):
            literal = json.loads(part)
            if n != len(parts) - 1 or not isinstance(literal, str):
                raise UnsupportedPartitioning(f"a literal only ends the chain: {part!r}")
            terms.append(literal)
            continue
        segments = list(_SEGMENT.finditer(part))
        if not segments or "".join(m[0] for m in segments) != part:
            raise UnsupportedPartitioning(f"not a path of object keys: {part!r}")
        terms.append(tuple(m["name"] or json.loads(m["quoted"]) for m in segments))
    regex = json.loads(found["regex"])
    if not (regex.startswith("\\A") and regex.endswith("\\z")):
        raise UnsupportedPartitioning(f"test() must anchor with \\A and \\z: {regex!r}")
    return TenantQuery(found["key"], tuple(terms), re.compile(regex[2:-2]), json.loads(found["bad"]))


def render_prefix(template: str, keys: dict[str, str], now: float) -> str:
    """A Prefix with `!{partitionKeyFromQuery:K}`, `!{timestamp:FMT}` and `!{firehose:...}` filled in."""

    def one(match: re.Match[str]) -> str:
        namespace, value = match["namespace"], match["value"]
        if namespace == "partitionKeyFromQuery" and value in keys:
            return keys[value]
        if namespace == "timestamp":
            return _timestamp(value, now)
        if namespace == "firehose" and value == "error-output-type":
            return ERROR_TYPE
        raise UnsupportedPartitioning(f"prefix expression !{{{namespace}:{value}}} is not emulated")

    return _EXPRESSION.sub(one, template)


def _timestamp(java_format: str, now: float) -> str:
    tokens = re.split(r"(yyyy|MM|dd|HH)", java_format)
    if any(t not in _TIME_TOKENS and not re.fullmatch(r"[/_-]*", t) for t in tokens):
        raise UnsupportedPartitioning(f"timestamp format {java_format!r} is not emulated")
    return time.strftime("".join(_TIME_TOKENS.get(t, t) for t in tokens), time.gmtime(now))


@dataclass(frozen=True)
class Processing:
    """A delivery stream's processors, as far as the emulator evaluates them."""

    query: TenantQuery
    deaggregate: bool  # RecordDeAggregation with SubRecordType JSON
    delimiter: bytes  # appended to each record: b"\n" with AppendDelimiterToRecord


def processing_of(destination: dict[str, Any]) -> Processing:
    """The processors the product configures (provisioning/destination.py), or UnsupportedPartitioning."""
    processors = (destination.get("ProcessingConfiguration") or {}).get("Processors") or []
    types = [p.get("Type") for p in processors]
    core = [t for t in types if t not in ("RecordDeAggregation", "AppendDelimiterToRecord")]
    expected = ["RecordDeAggregation"] * ("RecordDeAggregation" in types) + ["MetadataExtraction"]
    expected += ["AppendDelimiterToRecord"] * ("AppendDelimiterToRecord" in types)
    if core != ["MetadataExtraction"] or types != expected:
        raise UnsupportedPartitioning(
            f"expected [RecordDeAggregation,] MetadataExtraction[, AppendDelimiterToRecord], got {types}"
        )
    params = {p.get("Type"): _params(p) for p in processors}
    deaggregate = "RecordDeAggregation" in params
    if deaggregate and params["RecordDeAggregation"].get("SubRecordType") != "JSON":
        raise UnsupportedPartitioning(f"only JSON de-aggregation is emulated, not {params['RecordDeAggregation']}")
    query = parse_query(str(params["MetadataExtraction"].get("MetadataExtractionQuery", "")))
    return Processing(query, deaggregate, b"\n" if "AppendDelimiterToRecord" in params else b"")


def _params(processor: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterName"]: p["ParameterValue"] for p in processor.get("Parameters") or []}


def split_json(data: bytes) -> list[bytes]:
    """The JSON objects one record holds, newline-delimited or back to back, each as its own
    bytes; ValueError for anything else (an array, a scalar, text between objects)."""
    text = data.decode()
    decoder = json.JSONDecoder()
    parts: list[bytes] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        if pos == len(text):
            return parts
        value, end = decoder.raw_decode(text, pos)
        if not isinstance(value, dict):
            raise ValueError(f"a JSON {type(value).__name__}, not an object")
        parts.append(text[pos:end].encode())
        pos = end


def partition_records(destination: dict[str, Any], records: list[bytes], now: float) -> dict[str, list[bytes]]:
    """Pure: rendered prefix -> the bytes delivered under it, in order; a record that cannot be
    de-aggregated, or whose query fails, goes to the rendered ErrorOutputPrefix, as Firehose does."""
    processing = processing_of(destination)
    template = destination["Prefix"]
    render_prefix(template, {processing.query.key: processing.query.bad}, now)  # an unsupported prefix fails here
    errors = render_prefix(destination.get("ErrorOutputPrefix", ""), {}, now)
    groups: dict[str, list[bytes]] = {}
    for data in records:
        try:
            parts = split_json(data) if processing.deaggregate else [data]
            if len(parts) > MAX_SUB_RECORDS:
                raise ValueError(f"{len(parts)} JSON objects in one record, over the {MAX_SUB_RECORDS} cap")
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors too
            groups.setdefault(errors, []).append(data)
            continue
        for part in parts:
            try:  # one JSON document: Firehose's query sees nothing else
                prefix = render_prefix(template, processing.query.evaluate(json.loads(part)), now)
            except ValueError:  # unparsable record or a query error: Firehose's error prefix
                groups.setdefault(errors, []).append(part + processing.delimiter)
                continue
            groups.setdefault(prefix, []).append(part + processing.delimiter)
    return groups


def emulate_dynamic_partitioning() -> None:
    """Make moto's Firehose write a partitioning stream's records under their rendered prefixes."""
    from moto.firehose.models import FirehoseBackend
    from moto.s3.models import s3_backends

    if getattr(FirehoseBackend, "_dcb_partitioning", False):
        return
    original: Callable[..., list[dict[str, str]]] = FirehoseBackend.put_s3_records

    def put_s3_records(
        self: Any, name: str, version_id: str, destination: dict[str, Any], records: list[dict[str, bytes]]
    ) -> list[dict[str, str]]:
        if not (destination.get("DynamicPartitioningConfiguration") or {}).get("Enabled"):
            return original(self, name, version_id, destination, records)
        now = time.time()
        bucket = destination["BucketARN"].split(":")[-1]
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now))
        for prefix, parts in partition_records(destination, [r["Data"] for r in records], now).items():
            body = b"".join(parts)
            key = f"{prefix}{name}-{version_id}-{stamp}-{uuid.uuid4()}"
            s3_backends[self.account_id][self.partition].put_object(bucket, key, body)
        return [{"RecordId": str(uuid.uuid4())} for _ in records]

    FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign,assignment]
    FirehoseBackend._dcb_partitioning = True  # type: ignore[attr-defined]
