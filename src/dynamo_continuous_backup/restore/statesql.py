"""The state at T (docs/design.md section 4) as ONE SQL definition, rendered for DuckDB or Athena.

The query below is written once, in portable SQL that sqlglot reads and writes for either
engine: the newest change per key by numeric sequence order (MAX_BY over a ROW, ordered by
the sequence number left-padded to 48 digits, since sequence numbers exceed 64 bits), REMOVE
drops the item, and base rows count for the keys no change names (NOT EXISTS, not DuckDB's
ANTI JOIN). The leaves the engines spell differently (JSON reads, byte length) come from
sqlparts. Pure: no I/O.
"""

from __future__ import annotations

import uuid

import sqlglot
from sqlglot import exp

from ..core.timeline import Window
from .sqlparts import check_dialect, image_type, key_text
from .where import parse_where, predicate_sql

_CHANGES = """
SELECT k, MAX_BY(CAST(ROW(eventName, NewImage, oversizeS3Key) AS STRUCT<e VARCHAR, img {image}, ptr VARCHAR>),
                 LPAD(SequenceNumber, 48, '0')) AS w
FROM (SELECT dcb_key AS k, eventName, NewImage, oversizeS3Key, SequenceNumber
      FROM {changes} WHERE dcb_read) AS r
WHERE dcb_only
GROUP BY k
"""
_LATEST = "SELECT k, w.img AS image, w.ptr AS pointer FROM c WHERE w.e <> 'REMOVE'"
_WITH_BASE = """
WITH c AS ({changes}),
     b AS (SELECT k, ARBITRARY(image) AS image
           FROM (SELECT dcb_key AS k, COALESCE(NewImage, Item) AS image FROM {base}) AS r
           WHERE dcb_only GROUP BY k)
SELECT k, w.img AS image, w.ptr AS pointer FROM c WHERE w.e <> 'REMOVE'
UNION ALL
SELECT k, image, CAST(NULL AS VARCHAR) AS pointer FROM b WHERE NOT EXISTS (SELECT 1 FROM c WHERE c.k = b.k)
"""
# An oversize item's image is not in its pointer line: the caller fetches it and tests it.
_FILTERED = "SELECT k, image, pointer FROM ({state}) AS s WHERE pointer IS NOT NULL OR dcb_where"


def state_select(
    dialect: str,
    changes: str,
    base: str | None,
    key_names: tuple[str, ...],
    at: float | None,
    window: Window | None,
    where: str | None = None,
    only_key: str | None = None,
) -> str:
    """A SELECT of (k, image, pointer) rows: every item present at `at` (None: the latest
    state), or only those matching `where`, or only the key text `only_key`. `changes` and
    `base` are relations (a table name or a parenthesised subquery) in `dialect`."""
    check_dialect(dialect)
    nonce = uuid.uuid4().hex[:12]  # placeholders no literal of the caller's can spell
    relations = {f"dcb_changes_{nonce}": changes, f"dcb_base_{nonce}": base or ""}
    names = list(relations)
    text = _CHANGES.format(image=image_type(dialect).sql(), changes=names[0])
    text = f"WITH c AS ({text}) {_LATEST}" if base is None else _WITH_BASE.format(changes=text, base=names[1])
    if where is not None:
        text = _FILTERED.format(state=text)
    leaves = {
        "dcb_key": key_text(dialect, key_names, exp.func("COALESCE", exp.column("Keys"), exp.column("Item"))),
        "dcb_read": exp.and_(*conds) if (conds := _read_filter(at, window)) else exp.true(),
        "dcb_only": exp.EQ(this=exp.column("k"), expression=exp.Literal.string(only_key))
        if only_key is not None
        else exp.true(),
    }
    if where is not None:
        leaves["dcb_where"] = predicate_sql(parse_where(where), dialect, exp.column("image"))

    def fill(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name in leaves:
            return leaves[node.name].copy()
        return node

    sql = sqlglot.parse_one(text).transform(fill).sql(dialect=dialect)
    for name, relation in relations.items():
        sql = sql.replace(name, relation)
    return sql


def _time(value: float) -> exp.Expr:
    """A time literal, exact on both engines (a DOUBLE from the float's shortest repr)."""
    return exp.cast(exp.Literal.string(repr(float(value))), exp.DataType.Type.DOUBLE)


def _read_filter(at: float | None, window: Window | None) -> list[exp.Expr]:
    """The change records the state reads: by `at`, of the window's generation (by label;
    older records without one, by time) and newer than its base's start minus the margin."""
    when = exp.column("ApproximateCreationDateTime")
    conds: list[exp.Expr] = []
    if at is not None:
        conds.append(exp.LTE(this=when.copy(), expression=_time(at)))
    if window is None:
        return conds
    gen = window.generation
    span: list[exp.Expr] = [
        exp.Is(this=exp.column("streamLabel"), expression=exp.Null()),
        exp.GTE(this=when.copy(), expression=_time(gen.start)),
    ]
    if gen.end is not None:
        span.append(exp.LT(this=when.copy(), expression=_time(gen.end)))
    label = exp.EQ(this=exp.column("streamLabel"), expression=exp.Literal.string(gen.label))
    mine = exp.paren(exp.or_(label, exp.paren(exp.and_(*span))))
    if window.base is None:  # from the start: records without a time may be the oldest ones
        return [*conds, exp.paren(exp.or_(mine, exp.Is(this=when.copy(), expression=exp.Null())))]
    return [*conds, mine, exp.GT(this=when.copy(), expression=_time(window.since))]
