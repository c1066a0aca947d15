"""Firehose dynamic partitioning for the embedded emulator, which moto ignores (it writes every
record under Prefix + YYYY/MM/DD/HH/, `!{...}` and all). Only the query form the product
generates (provisioning/destination.py `tenant_query`) is evaluated; any other query or prefix
expression is refused loudly, since guessing would make the emulator pass what AWS might not.

The form: {KEY: ((TERM // ... // "DEFAULT") | if test("\\A[...]{m,n}\\z") then . else "BAD" end)}
where each TERM is a path of object keys (`.NewImage."tenantId".S`).
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


def _query_of(destination: dict[str, Any]) -> str:
    processors = (destination.get("ProcessingConfiguration") or {}).get("Processors") or []
    extraction = [p for p in processors if p.get("Type") == "MetadataExtraction"]
    if len(extraction) != 1 or len(processors) != 1:
        raise UnsupportedPartitioning(f"expected one MetadataExtraction processor, got {processors!r}")
    params = {p["ParameterName"]: p["ParameterValue"] for p in extraction[0].get("Parameters", [])}
    return str(params.get("MetadataExtractionQuery", ""))


def partition_records(destination: dict[str, Any], records: list[bytes], now: float) -> dict[str, list[int]]:
    """Pure: rendered prefix -> indices of the records delivered under it; a record whose query
    fails goes to the rendered ErrorOutputPrefix, as Firehose does."""
    query = parse_query(_query_of(destination))
    template = destination["Prefix"]
    render_prefix(template, {query.key: query.bad}, now)  # an unsupported prefix fails here, loudly
    errors = render_prefix(destination.get("ErrorOutputPrefix", ""), {}, now)
    groups: dict[str, list[int]] = {}
    for i, data in enumerate(records):
        try:  # one JSON document per record: Firehose's query sees nothing else
            prefix = render_prefix(template, query.evaluate(json.loads(data)), now)
        except ValueError:  # unparsable record or a query error: Firehose's error prefix
            prefix = errors
        groups.setdefault(prefix, []).append(i)
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
        for prefix, indices in partition_records(destination, [r["Data"] for r in records], now).items():
            body = b"".join(records[i]["Data"] for i in indices)
            key = f"{prefix}{name}-{version_id}-{stamp}-{uuid.uuid4()}"
            s3_backends[self.account_id][self.partition].put_object(bucket, key, body)
        return [{"RecordId": str(uuid.uuid4())} for _ in records]

    FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign,assignment]
    FirehoseBackend._dcb_partitioning = True  # type: ignore[attr-defined]
