"""`--where`: a SQL predicate over an item's top-level attributes, checked against a safe
subset, then evaluated in SQL (either engine) or in Python on an item image, alike.

An attribute is read in the type of the literal it is compared with: a string literal reads
an S attribute, a number literal an N attribute (both as 64-bit floats), TRUE/FALSE a BOOL
attribute; any other type, a NULL-typed or a missing attribute reads as NULL, so it matches
neither `=` nor `<>`. A bare attribute is a BOOL. `IS NULL` holds for missing and NULL-typed
attributes. Logic is SQL's three-valued one; an item is kept when the predicate is TRUE.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from ..core.errors import UserInputError
from .sqlparts import json_text, json_value

Value = str | float | bool
# sqlglot comparison node -> (its operator, the node it becomes when its sides are swapped)
_COMPARE: dict[type[exp.Expr], tuple[str, type[exp.Expr]]] = {
    exp.EQ: ("=", exp.EQ),
    exp.NEQ: ("<>", exp.NEQ),
    exp.GT: (">", exp.LT),
    exp.GTE: (">=", exp.LTE),
    exp.LT: ("<", exp.GT),
    exp.LTE: ("<=", exp.GTE),
}
_TAG = {str: "S", float: "N", bool: "BOOL"}
ALLOWED = (
    "attribute names, string/number/TRUE/FALSE literals, = <> != < <= > >=, AND, OR, NOT, "
    "IN (literals), IS [NOT] NULL, LIKE 'pattern', BETWEEN, parentheses"
)
# Parsing, rendering and evaluating a predicate recurse once per level of its tree: bounded
# here, well inside Python's recursion limit on every path (both engines' SQL, Python's test).
MAX_DEPTH = 16  # nested parentheses
MAX_CONNECTIVES = 100  # AND and OR (a long list of alternatives is one IN (...))
MAX_NOTS = 16


@dataclass(frozen=True)
class Test:
    """One leaf: attribute `attr` read as `kind` ('S', 'N', 'BOOL'; 'NULL': IS NULL) and tested."""

    op: str  # = <> < <= > >= in like between isnull truth
    attr: str
    kind: str
    values: tuple[Value, ...] = ()


@dataclass(frozen=True)
class Logic:
    op: str  # and | or | not
    parts: tuple[Predicate, ...]


@dataclass(frozen=True)
class Const:
    value: bool


Predicate = Test | Logic | Const


def parse_where(text: str) -> Predicate:
    """The predicate `text` stands for; UserInputError naming what is not allowed."""
    if not text.strip():
        raise UserInputError("--where is empty: give a predicate, e.g. --where \"tenant = 'acme'\"")
    try:
        tokens = sqlglot.tokenize(text)
        statements = any(t.token_type == TokenType.SEMICOLON for t in tokens)
        _check_size(text, [t.token_type for t in tokens])
        trees = [t for t in sqlglot.parse(text) if t is not None]
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "cannot parse it"
        # sqlglot names its node classes ("missing for <class '...EQ'>"): say "incomplete" instead
        first = "incomplete: a comparison lacks a side" if "<class" in first else first
        raise UserInputError(f"--where {text!r}: not a SQL predicate ({first})") from None
    if statements or len(trees) != 1:
        raise UserInputError(f"--where {text!r}: give one predicate (no ';')")
    return _build(trees[0], text)


def _check_size(text: str, tokens: list[TokenType]) -> None:
    """Refuse a predicate too deep or too large to parse and render safely (MAX_*)."""
    depth = deepest = 0
    for t in tokens:
        depth += 1 if t == TokenType.L_PAREN else -1 if t == TokenType.R_PAREN else 0
        deepest = max(deepest, depth)
    connectives = sum(t in (TokenType.AND, TokenType.OR) for t in tokens)
    nots = sum(t == TokenType.NOT for t in tokens)
    shown = text if len(text) <= 40 else text[:37] + "..."
    for count, limit, what in (
        (deepest, MAX_DEPTH, "levels of nested parentheses"),
        (connectives, MAX_CONNECTIVES, "ANDs and ORs (for many values of one attribute use IN ('a', 'b', ...))"),
        (nots, MAX_NOTS, "NOTs"),
    ):
        if count > limit:
            raise UserInputError(f"--where {shown!r}: too large: {count} {what}, at most {limit}; simplify it")


def _refuse(text: str, node: exp.Expr, why: str = "") -> UserInputError:
    shown = node.sql()[:60]
    return UserInputError(f"--where {text!r}: {why or 'not allowed'}: {shown} (allowed: {ALLOWED})")


def _build(node: exp.Expr, text: str) -> Predicate:
    if isinstance(node, exp.Paren):
        return _build(node.this, text)
    if isinstance(node, exp.And | exp.Or):
        return Logic(type(node).__name__.lower(), tuple(_build(part, text) for part in _chain(node)))
    if isinstance(node, exp.Not):
        return Logic("not", (_build(node.this, text),))
    if isinstance(node, exp.Boolean):
        return Const(bool(node.this))
    if isinstance(node, exp.Column):
        return Test("truth", _attr(node, text), "BOOL")
    if isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            raise _refuse(text, node, "only IS NULL and IS NOT NULL")
        return Test("isnull", _attr(node.this, text), "NULL")
    if type(node) in _COMPARE:
        return _compare(node, text)
    if isinstance(node, exp.In):
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field") or not node.expressions:
            raise _refuse(text, node, "IN takes a list of literals")
        return _typed("in", node.this, node.expressions, node, text)
    if isinstance(node, exp.Like) and not isinstance(node.expression, exp.Escape):
        test = _typed("like", node.this, [node.expression], node, text)
        if test.kind != "S":
            raise _refuse(text, node, "LIKE takes a string pattern")
        return Logic("not", (test,)) if node.args.get("negate") else test
    if isinstance(node, exp.Between) and not node.args.get("symmetric"):
        test = _typed("between", node.this, [node.args["low"], node.args["high"]], node, text)
        return Logic("not", (test,)) if node.args.get("negate") else test
    raise _refuse(text, node)


def _chain(node: exp.And | exp.Or) -> list[exp.Expr]:
    """The operands of a run of one connective (a OR b OR c), in order: one n-ary node, so a
    long run nests no deeper than one term when it is built, rendered and evaluated."""
    parts: list[exp.Expr] = []
    stack: list[exp.Expr] = [node]
    while stack:
        top = stack.pop()
        if type(top) is type(node):
            stack += [top.expression, top.this]
        else:
            parts.append(top)
    return parts


def _attr(node: exp.Expr, text: str) -> str:
    if not isinstance(node, exp.Column) or node.table or not isinstance(node.this, exp.Identifier):
        raise _refuse(text, node, "expected a top-level attribute name")
    return str(node.this.this)


def _literal(node: exp.Expr, text: str) -> Value:
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    negative = isinstance(node, exp.Neg)
    inner = node.this if negative else node
    if isinstance(inner, exp.Literal) and inner.is_string and not negative:
        return str(inner.this)
    if isinstance(inner, exp.Literal) and not inner.is_string:
        number = float(inner.this)
        if not math.isfinite(number):
            raise _refuse(text, node, "a number beyond 64-bit floats")
        return -number if negative else number
    if isinstance(node, exp.Null):
        raise _refuse(text, node, "NULL compares with nothing; use IS NULL")
    if isinstance(node, exp.Column) and node.this.args.get("quoted"):  # "acme": a name in SQL, not a string
        raise _refuse(
            text, node, "expected a literal (strings take single quotes: 'acme'; double quotes name attributes)"
        )
    raise _refuse(text, node, "expected a literal")


def _compare(node: exp.Expr, text: str) -> Test:
    op, swapped = _COMPARE[type(node)]
    left, right = node.this, node.expression
    if not isinstance(left, exp.Column) and isinstance(right, exp.Column):  # 'acme' = tenant
        left, right, op = right, left, _COMPARE[swapped][0]
    test = _typed(op, left, [right], node, text)
    if test.kind == "BOOL" and op not in ("=", "<>"):
        raise _refuse(text, node, "TRUE and FALSE compare with = and <> only")
    return test


def _typed(op: str, attr: exp.Expr, literals: list[exp.Expr], node: exp.Expr, text: str) -> Test:
    """A leaf test; every literal must have one type, which is the type the attribute is read in."""
    name = _attr(attr, text)
    values = tuple(_literal(v, text) for v in literals)
    kinds = {_TAG[type(v)] for v in values}
    if len(kinds) != 1:
        raise _refuse(text, node, "mixes strings, numbers and booleans")
    kind = kinds.pop()
    if op == "between" and kind == "BOOL":
        raise _refuse(text, node, "BETWEEN takes strings or numbers")
    return Test(op, name, kind, values)


# -- Python ---------------------------------------------------------------------------------


def matches(predicate: Predicate, image: dict[str, Any]) -> bool:
    """Whether the predicate is TRUE for this item image (DynamoDB JSON)."""
    return _eval(predicate, image) is True


def _read(image: dict[str, Any], attr: str, kind: str) -> Value | None:
    typed = image.get(attr)
    if not isinstance(typed, dict) or kind not in typed:
        return None
    raw = typed[kind]
    return float(raw) if kind == "N" else raw  # type: ignore[no-any-return]


def _eval(p: Predicate, image: dict[str, Any]) -> bool | None:
    if isinstance(p, Const):
        return p.value
    if isinstance(p, Logic):
        got = [_eval(part, image) for part in p.parts]
        if p.op == "not":
            return None if got[0] is None else not got[0]
        if p.op == "and":
            return False if False in got else (None if None in got else True)
        return True if True in got else (None if None in got else False)
    if p.op == "isnull":
        typed = image.get(p.attr)
        return typed is None or "NULL" in typed
    value = _read(image, p.attr, p.kind)
    if value is None:
        return None
    return _test(p.op, value, p.values)


def _test(op: str, value: Any, values: tuple[Any, ...]) -> bool:
    if op == "truth":
        return bool(value)
    if op == "in":
        return value in values
    if op == "like":
        return _like(values[0]).fullmatch(value) is not None
    if op == "between":
        return bool(values[0] <= value <= values[1])
    other = values[0]
    return {
        "=": value == other,
        "<>": value != other,
        "<": value < other,
        "<=": value <= other,
        ">": value > other,
        ">=": value >= other,
    }[op]


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE with no escape character: % any run, _ any one character."""
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


# -- SQL ------------------------------------------------------------------------------------


def predicate_sql(p: Predicate, dialect: str, image: exp.Expr) -> exp.Expr:
    """The predicate as a sqlglot condition over a JSON column of item images."""
    if isinstance(p, Const):
        return exp.Boolean(this=p.value)
    if isinstance(p, Logic):
        parts = [exp.paren(predicate_sql(part, dialect, image), copy=False) for part in p.parts]
        return exp.Not(this=parts[0]) if p.op == "not" else (exp.and_ if p.op == "and" else exp.or_)(*parts)
    if p.op == "isnull":
        absent = exp.Is(this=json_value(dialect, image, [p.attr]), expression=exp.Null())
        null_typed = exp.Not(this=exp.Is(this=json_value(dialect, image, [p.attr, "NULL"]), expression=exp.Null()))
        return exp.paren(exp.or_(absent, null_typed), copy=False)
    text = json_text(dialect, image, [p.attr, p.kind])
    if p.kind == "BOOL":  # JSON true/false read as text on both engines
        value: exp.Expr = exp.paren(exp.EQ(this=text, expression=exp.Literal.string("true")), copy=False)
    elif p.kind == "N":
        value = exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"))
    else:
        value = text
    if p.op == "truth":
        return value
    lits = [_sql_literal(v) for v in p.values]
    if p.op == "in":
        return exp.In(this=value, expressions=lits)
    if p.op == "like":
        return exp.Like(this=value, expression=lits[0])
    if p.op == "between":
        return exp.Between(this=value, low=lits[0], high=lits[1])
    node = {"=": exp.EQ, "<>": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}[p.op]
    return node(this=value, expression=lits[0])


def _sql_literal(value: Value) -> exp.Expr:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, float):  # a DOUBLE on both engines, whatever literal type each would infer
        return exp.cast(exp.Literal.string(repr(value)), exp.DataType.Type.DOUBLE)
    return exp.Literal.string(value)
