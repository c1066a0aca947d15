"""The one canonical text of an item key, built alike in Python and in SQL (DuckDB, Athena).

Per key attribute, in key-schema order (hash, then range): the type tag (S, N or B), the
value's UTF-8 byte length, ':' and the value as stored (S the raw string, N DynamoDB's
number text, B the base64 text). The length prefix makes the text unambiguous whatever
characters a value holds, with no escaping that two engines could spell differently: Python
counts `len(value.encode())`, DuckDB `strlen(value)`, Athena half the hex length of
`to_utf8(value)` (restore/sqlparts.py), and all copy the value verbatim.
Example: pk = 'a|b', sk = 7  ->  'S3:a|bN1:7'.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any

import sqlglot

from ..core.errors import UserInputError
from . import sqlparts

if TYPE_CHECKING:
    from .backups import LocalBackups

TAGS = ("S", "N", "B")  # the only types a DynamoDB key attribute can have
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_MAX_DIGITS = 38  # DynamoDB's precision for numbers


def key_text(image: dict[str, Any], names: list[str]) -> str:
    """The canonical key text of an item (or key) image in DynamoDB JSON."""
    parts = []
    for name in names:
        ((tag, value),) = image[name].items()
        parts.append(f"{tag}{len(value.encode())}:{value}")
    return "".join(parts)


def key_sql(names: list[str], column: str = "coalesce(Keys, Item)") -> str:
    """A DuckDB expression giving the same text as `key_text` for a JSON column of images
    (sqlparts.key_text: the same definition statesql renders for either engine)."""
    return sqlparts.key_text("duckdb", names, sqlglot.parse_one(column, read="duckdb")).sql("duckdb")


def parse_key_text(text: str, names: list[str]) -> dict[str, Any]:
    """The typed key (DynamoDB JSON) a canonical key text stands for."""
    data, pos, key = text.encode(), 0, {}
    for name in names:
        colon = data.index(b":", pos)
        tag, size = data[pos : pos + 1].decode(), int(data[pos + 1 : colon])
        key[name] = {tag: data[colon + 1 : colon + 1 + size].decode()}
        pos = colon + 1 + size
    if pos != len(data) or any(next(iter(v)) not in TAGS for v in key.values()):
        raise ValueError(f"not a key text of ({', '.join(names)}): {text!r}")
    return key


def readable_key(text: str, names: list[str]) -> str:
    """A key text for people: pk='a\\x1bb', sk=7 (strings and bytes as Python literals)."""
    shown = []
    for name, value in parse_key_text(text, names).items():
        ((tag, inner),) = value.items()
        shown.append(f"{name}={inner if tag == 'N' else repr(base64.b64decode(inner) if tag == 'B' else inner)}")
    return ", ".join(shown)


def normal_number(text: str) -> str:
    """A number as DynamoDB stores it: decimal, no exponent, no leading or trailing zeros."""
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"{text!r} is not a number")
    with localcontext() as ctx:
        ctx.prec = 2 * _MAX_DIGITS  # enough never to round a number DynamoDB accepts
        try:
            value = Decimal(text).normalize()
        except InvalidOperation:
            raise ValueError(f"{text!r} is not a number") from None
    if len(value.as_tuple().digits) > _MAX_DIGITS:
        raise ValueError(f"{text!r} has more than {_MAX_DIGITS} significant digits")
    return "0" if value.is_zero() else f"{value:f}"


def parse_key_args(pairs: list[str], backups: LocalBackups) -> dict[str, Any]:
    """`ATTR=VALUE` arguments -> a typed key in its stored form, checked against the key schema."""
    names = backups.key_names
    types = {d["AttributeName"]: d["AttributeType"] for d in (backups.schema or {}).get("AttributeDefinitions", [])}
    key: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise UserInputError(f"--key {pair!r}: use ATTR=VALUE")
        if name not in names:
            raise UserInputError(f"--key {name}: not a key attribute of {backups.table} (keys: {', '.join(names)})")
        kind = types.get(name, "S")
        try:
            if kind == "N":
                value = normal_number(value)
            elif kind == "B":
                value = base64.b64encode(base64.b64decode(value, validate=True)).decode()
        except ValueError:  # binascii.Error is a ValueError too
            what = "a number" if kind == "N" else "binary; give it as base64"
            raise UserInputError(f"--key {name}={value}: {name} is {what}") from None
        key[name] = {kind: value}
    missing = [n for n in names if n not in key]
    if missing:
        raise UserInputError(f"--key: give every key attribute of {backups.table}; missing {', '.join(missing)}")
    return key
