"""`--where`: only a safe subset of SQL is accepted, and the predicate means the same in
Python and in both SQL renderings (DuckDB's, and Athena's transpiled to DuckDB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dynamo_continuous_backup.core.errors import UserInputError
from dynamo_continuous_backup.restore.keys import key_text
from dynamo_continuous_backup.restore.restore import Restorer
from dynamo_continuous_backup.restore.statequery import read_files
from dynamo_continuous_backup.restore.statesql import state_select
from dynamo_continuous_backup.restore.where import matches, parse_where

from .test_statesql import NAMES, run_both


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("a = 1; DROP TABLE x", "no ';'"),
        (";DROP TABLE x", "no ';'"),
        ("DROP TABLE x", "not allowed"),
        ("a = 'x'; SELECT 1", "no ';'"),
        ("a = (SELECT 1)", "expected a literal"),
        ("EXISTS (SELECT 1)", "not allowed"),
        ("a IN (SELECT b FROM t)", "IN takes a list of literals"),
        ("lower(a) = 'x'", "expected a top-level attribute name"),
        ("a = lower('x')", "expected a literal"),
        ("a = b", "expected a literal"),
        ("a + 1 > 2", "expected a top-level attribute name"),
        ("t.a = 1", "expected a top-level attribute name"),
        ("a = NULL", "use IS NULL"),
        ("a IS TRUE", "only IS NULL"),
        ("a > TRUE", "= and <> only"),
        ("a IN (1, 'x')", "mixes strings, numbers and booleans"),
        ("a LIKE 5", "LIKE takes a string pattern"),
        ("a LIKE 'x' ESCAPE '!'", "not allowed"),
        ("a ILIKE 'x'", "not allowed"),
        ("a = 1e999", "beyond 64-bit floats"),
        ("a BETWEEN TRUE AND FALSE", "BETWEEN takes strings or numbers"),
        ("1 = 1", "expected a top-level attribute name"),
        ("'x'", "not allowed"),
        ("a = ", "incomplete: a comparison lacks a side"),
        ("", "--where is empty"),
        ("  ", "--where is empty"),
        ('a = "acme"', "strings take single quotes"),
        ("a = 1 UNION SELECT 1", "not allowed"),
        ("sleep(10)", "not allowed"),
    ],
)
def test_anything_outside_the_subset_is_refused_in_one_line(text: str, named: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse_where(text)
    message = str(caught.value)
    assert named in message and "\n" not in message and message.startswith("--where")


def test_a_quote_in_a_literal_stays_inside_it() -> None:
    # GIVEN a literal that would close the string and add a condition if pasted into SQL
    text = "tenant = 'x'' OR 1=1 --'"
    for dialect in ("duckdb", "athena"):
        sql = state_select(dialect, "changes", None, NAMES, None, None, where=text)
        # THEN the SQL compares with that one string, and adds no OR
        literals = [lit.this for lit in sqlglot.parse_one(sql, read=dialect).find_all(sqlglot.exp.Literal)]
        assert "x' OR 1=1 --" in literals
        assert "1=1" not in sql.replace("x'' OR 1=1 --", "")


def test_numbers_compare_numerically_strings_only_with_strings() -> None:
    item = {"amount": {"N": "100"}, "code": {"S": "100"}, "ok": {"BOOL": True}, "gone": {"NULL": True}}
    assert matches(parse_where("amount > 9.5"), item)  # 100 > 9.5 as numbers, not as text
    assert matches(parse_where("amount = 1e2"), item)
    assert not matches(parse_where("code = 100"), item)  # an S attribute is no number
    assert not matches(parse_where("code <> 100"), item)  # ... nor "not that number": NULL
    assert matches(parse_where("code = '100'"), item)
    assert matches(parse_where("ok AND ok = TRUE AND NOT ok = FALSE"), item)
    assert matches(parse_where("gone IS NULL AND missing IS NULL AND amount IS NOT NULL"), item)
    assert matches(parse_where("'05' < code"), item) and not matches(parse_where("'50' < code"), item)  # text order
    assert matches(parse_where("code LIKE '1_0' AND code NOT LIKE '2%' AND amount NOT BETWEEN 1 AND 2"), item)
    assert matches(parse_where("\"code\" IN ('7', '100') AND amount NOT IN (1, 2)"), item)


# -- Python and both SQL renderings agree ----------------------------------------------------

ATTRS = ["a", "b", "my attr"]
string = st.sampled_from(["", "x", "xy", "X", "a%b", "a_b", "\\", "'", "é", "10", "x\ny"])
number_text = st.sampled_from(["0", "10", "1E+1", "-0.5", "1e-130", "123456789012345678901234567890", "2.5", "-7"])
plain = st.one_of(
    string.map(lambda v: {"S": v}),
    number_text.map(lambda v: {"N": v}),
    st.booleans().map(lambda v: {"BOOL": v}),
    st.just({"NULL": True}),
    st.just({"M": {"S": {"S": "x"}}}),
    st.just({"SS": ["x"]}),
)
item = st.dictionaries(st.sampled_from(ATTRS), plain, max_size=3)


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


attr = st.sampled_from(ATTRS).map(lambda a: f'"{a}"' if " " in a else a)
str_lit = string.map(sql_string)
num_lit = st.sampled_from(["0", "10", "10.0", "1e1", "-0.5", "2.5", "-7", "1e-130", "123456789012345678901234567890"])
lit = st.one_of(str_lit, num_lit)
leaf = st.one_of(
    st.tuples(attr, st.sampled_from(["=", "<>", "!=", "<", "<=", ">", ">="]), lit).map(" ".join),
    st.tuples(lit, st.sampled_from(["=", "<"]), attr).map(" ".join),
    st.tuples(attr, st.sampled_from(["IN", "NOT IN"]), st.lists(str_lit, min_size=1, max_size=3)).map(
        lambda t: f"{t[0]} {t[1]} ({', '.join(t[2])})"
    ),
    st.tuples(attr, st.sampled_from(["IN", "NOT IN"]), st.lists(num_lit, min_size=1, max_size=3)).map(
        lambda t: f"{t[0]} {t[1]} ({', '.join(t[2])})"
    ),
    st.tuples(attr, st.sampled_from(["IS NULL", "IS NOT NULL"])).map(" ".join),
    st.tuples(
        attr, st.sampled_from(["LIKE", "NOT LIKE"]), st.sampled_from(["'x%'", "'%'", "'_'", "'a\\%'", "'é%'"])
    ).map(" ".join),
    st.tuples(attr, st.sampled_from(["BETWEEN", "NOT BETWEEN"]), num_lit, num_lit).map(
        lambda t: f"{t[0]} {t[1]} {t[2]} AND {t[3]}"
    ),
    st.tuples(attr, st.sampled_from(["BETWEEN", "NOT BETWEEN"]), str_lit, str_lit).map(
        lambda t: f"{t[0]} {t[1]} {t[2]} AND {t[3]}"
    ),
    attr,
    st.tuples(attr, st.sampled_from(["= TRUE", "<> FALSE"])).map(" ".join),
)
predicate = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda p: f"NOT ({p})"),
    ),
    max_leaves=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(item, min_size=1, max_size=8), text=predicate)
# NULL-typed and missing attributes read as NULL; IS NULL holds for both
@example(items=[{"a": {"NULL": True}}, {}, {"a": {"S": "x"}}], text="a IS NULL")
@example(items=[{"a": {"NULL": True}}, {}, {"a": {"S": "x"}}], text="NOT (a = 'x')")
def test_python_and_both_renderings_agree(tmp_path: Path, items: list[dict[str, Any]], text: str) -> None:
    # GIVEN items as base rows (each with its own key)
    images = [{**i, "pk": {"S": f"k{n}"}, "sk": {"N": "1"}} for n, i in enumerate(items)]
    path = tmp_path / "base.ndjson"
    path.write_text("".join(json.dumps({"Item": i}) + "\n" for i in images))
    # WHEN both renderings keep the items matching the predicate
    ours, athena = run_both(tmp_path, [], [path], at=None, window=None, where=text)
    # THEN each keeps exactly the items Python says match
    expected = {key_text(i, list(NAMES)): i for i in images if matches(parse_where(text), i)}
    assert ours == athena == expected


def test_oversize_rows_pass_the_sql_filter_for_python_to_test(tmp_path: Path) -> None:
    # GIVEN an oversize item: its pointer line has no image for SQL to test
    line = {
        "Keys": {"pk": {"S": "big"}, "sk": {"N": "1"}},
        "eventName": "INSERT",
        "SequenceNumber": "5",
        "ApproximateCreationDateTime": 1,
        "oversizeS3Key": "backups/@oversize/t/x",
    }
    path = tmp_path / "c.ndjson"
    path.write_text(json.dumps(line) + "\n")
    con = duckdb.connect()
    sql = state_select("duckdb", f"({read_files([path])})", None, NAMES, None, None, where="tenant = 'acme'")
    # THEN its row is kept, pointer and all (restore fetches the image and tests it)
    assert [(p, img) for _, img, p in con.execute(sql).fetchall()] == [("backups/@oversize/t/x", None)]


class Images:
    """A backup store whose oversize records are in memory."""

    def __init__(self, images: dict[str, dict[str, Any]]) -> None:
        self.images = images

    def image(self, text: str | None, pointer: str | None) -> dict[str, Any]:
        return json.loads(text) if text else self.images[pointer or ""]


def test_restore_tests_oversize_items_after_fetching_them() -> None:
    store = Images({"p1": {"tenant": {"S": "acme"}}, "p2": {"tenant": {"S": "other"}}})
    restorer = Restorer(None, store)  # type: ignore[arg-type]  # reads no table
    rows = [("k0", '{"tenant": {"S": "acme"}}', None), ("k1", None, "p1"), ("k2", None, "p2")]
    kept = list(restorer._matching(iter(rows), parse_where("tenant = 'acme'")))
    assert [(k, json.loads(img or "null"), p) for k, img, p in kept] == [
        ("k0", {"tenant": {"S": "acme"}}, None),
        ("k1", {"tenant": {"S": "acme"}}, None),
    ]


def _at_the_limits() -> str:
    """A predicate at every bound at once: 16 nested parentheses and NOTs, 100 ANDs and ORs."""
    alternatives = " OR ".join(f"a = 'v{i}'" for i in range(101))
    return "NOT (" * 16 + alternatives + ")" * 16


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("(" * 17 + "a = 'x'" + ")" * 17, "17 levels of nested parentheses, at most 16"),
        (" AND ".join(f"a <> '{i}'" for i in range(102)), "101 ANDs and ORs"),
        ("NOT " * 17 + "a = 'x'", "17 NOTs, at most 16"),
    ],
    ids=["parentheses", "connectives", "nots"],
)
def test_a_predicate_beyond_the_bounds_is_refused_in_one_line(text: str, named: str) -> None:
    with pytest.raises(UserInputError, match=named) as caught:
        parse_where(text)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_a_predicate_at_the_bounds_parses_renders_and_runs_on_both_engines(tmp_path: Path) -> None:
    # GIVEN a predicate at every bound, and items it keeps and drops (16 NOTs: an even number)
    text = _at_the_limits()
    images = [{"pk": {"S": "k1"}, "sk": {"N": "1"}, "a": {"S": "v7"}}, {"pk": {"S": "k2"}, "sk": {"N": "1"}}]
    path = tmp_path / "base.ndjson"
    path.write_text("".join(json.dumps({"Item": i}) + "\n" for i in images))
    # WHEN Python and both SQL renderings evaluate it: no RecursionError on any path
    ours, athena = run_both(tmp_path, [], [path], at=None, window=None, where=text)
    # THEN they agree on what it keeps
    assert list(ours) == list(athena) == [key_text(images[0], list(NAMES))]
    assert matches(parse_where(text), images[0]) and not matches(parse_where(text), images[1])
