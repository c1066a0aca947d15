"""The few SQL leaves DuckDB and Athena (Trino) spell differently, as sqlglot expressions.

Everything else of the state query is one sqlglot tree rendered for either engine; these
leaves are the JSON reads and the UTF-8 byte length, where sqlglot's own translation is
lossy (JSON paths of arbitrary attribute names) or does not run (`length(blob)` on DuckDB).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from ..core.errors import UserInputError

DIALECTS = ("duckdb", "athena")


def check_dialect(dialect: str) -> str:
    if dialect not in DIALECTS:
        raise UserInputError(f"SQL dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
    return dialect


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _path(dialect: str, names: Sequence[str]) -> exp.Expr:
    if dialect == "duckdb":  # a JSON Pointer: exact escaping ('~0', '~1') for any name
        return exp.Literal.string("".join("/" + n.replace("~", "~0").replace("/", "~1") for n in names))
    # Trino's JSON path: bracketed, double-quoted names with '\' escaping '"' and '\'
    quoted = ('["' + n.replace("\\", "\\\\").replace('"', '\\"') + '"]' for n in names)
    return exp.Literal.string("$" + "".join(quoted))


def json_text(dialect: str, column: exp.Expr, names: Sequence[str]) -> exp.Expr:
    """The string (or number, boolean as text) at `names` inside a JSON column; NULL if absent."""
    name = "json_extract_string" if dialect == "duckdb" else "JSON_EXTRACT_SCALAR"
    return _call(name, column, _path(dialect, names))


def json_value(dialect: str, column: exp.Expr, names: Sequence[str]) -> exp.Expr:
    """The JSON value at `names` inside a JSON column; NULL if absent."""
    return _call("json_extract" if dialect == "duckdb" else "JSON_EXTRACT", column, _path(dialect, names))


def byte_length(dialect: str, text: exp.Expr) -> exp.Expr:
    """The UTF-8 byte length of a string, as text."""
    if dialect == "duckdb":
        size = _call("strlen", text)
    else:
        # Trino's idiom length(to_utf8(x)) is right, but sqlglot turns it into DuckDB's
        # length(blob), which does not exist; half the hex length is exact on both engines.
        hex_length = exp.Length(this=exp.Hex(this=exp.Encode(this=text, charset=exp.Literal.string("utf-8"))))
        half = exp.Div(this=hex_length, expression=exp.Literal.number(2), typed=True)  # integer division
        size = exp.cast(half, exp.DataType.Type.BIGINT)
    return exp.cast(size, exp.DataType.Type.VARCHAR)


def image_type(dialect: str) -> exp.DataType:
    """The type of an item image column: DuckDB keeps JSON (so COPY writes objects), Trino text."""
    return exp.DataType.build("JSON" if dialect == "duckdb" else "VARCHAR")


def key_text(dialect: str, names: Sequence[str], column: exp.Expr) -> exp.Expr:
    """The canonical key text (restore/keys.py `key_text`) of a JSON column of key images."""
    if not names:
        return exp.Literal.string("")
    parts: list[exp.Expr] = []
    for name in names:
        tagged = []
        for tag in ("S", "N", "B"):  # the only types a key attribute can have
            value = json_text(dialect, column, [name, tag])
            pieces = [exp.Literal.string(tag), byte_length(dialect, value), exp.Literal.string(":"), value]
            tagged.append(_concat(pieces))
        parts.append(exp.Coalesce(this=tagged[0], expressions=tagged[1:]))
    return _concat(parts)


def _concat(parts: Sequence[exp.Expr]) -> exp.Expr:
    """a || b || ...: NULL when any part is NULL (which the key's coalesce relies on)."""
    out = parts[0]
    for part in parts[1:]:
        out = exp.DPipe(this=out, expression=part, safe=False)
    return out
