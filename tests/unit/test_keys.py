"""One canonical key text in Python and DuckDB, and numbers compared as DynamoDB stores them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamo_continuous_backup.restore.keys import key_sql, key_text, normal_number, parse_key_text, readable_key
from dynamo_continuous_backup.restore.statequery import connect, read_files

from ..helpers import HARD

NAMES = ["pk", "sk"]


def sql_texts(tmp_path: Path, images: list[dict[str, Any]]) -> list[str]:
    """The key texts DuckDB computes for these images, stored as the forwarder stores them."""
    path = tmp_path / "k.ndjson"
    path.write_bytes(
        b"".join(orjson.dumps({"Keys": i, "SequenceNumber": str(n)}) + b"\n" for n, i in enumerate(images))
    )
    rows = connect().execute(f"SELECT {key_sql(NAMES)}, SequenceNumber FROM ({read_files([path])})").fetchall()
    return [t for t, _ in sorted(rows, key=lambda r: int(r[1]))]


def test_sql_and_python_key_texts_agree_on_every_hard_character(tmp_path: Path) -> None:
    images = [{"pk": {"S": f"a{c}b{c}"}, "sk": {tag: v}} for c in HARD for tag, v in (("S", c), ("N", "-1.5"))]
    images.append({"pk": {"B": base64.b64encode(b"\x00\xff\x1b").decode()}, "sk": {"S": ""}})
    texts = [key_text(i, NAMES) for i in images]
    assert sql_texts(tmp_path, images) == texts
    assert len(set(texts)) == len(images)  # distinct keys, distinct texts
    assert [parse_key_text(t, NAMES) for t in texts] == images


# DynamoDB strings are UTF-8: lone surrogates (category Cs) cannot be stored, so never occur
hard_text = st.text(st.sampled_from(HARD) | st.characters(blacklist_categories=("Cs",)), max_size=8)
typed = st.one_of(
    hard_text.map(lambda v: {"S": v}),
    st.decimals(-(10**30), 10**30, places=3).map(lambda d: {"N": normal_number(str(d))}),
    st.binary(max_size=8).map(lambda b: {"B": base64.b64encode(b).decode()}),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({"pk": typed, "sk": typed}), min_size=1, max_size=30))
def test_key_texts_agree_distinguish_and_parse_back(tmp_path: Path, images: list[dict[str, Any]]) -> None:
    texts = [key_text(i, NAMES) for i in images]
    assert sql_texts(tmp_path, images) == texts
    assert len(set(texts)) == len({json.dumps(i, sort_keys=True) for i in images})
    assert [parse_key_text(t, NAMES) for t in texts] == images


def test_readable_key_shows_values_as_literals() -> None:
    text = key_text({"pk": {"S": "a\x1bb'"}, "sk": {"N": "7"}}, NAMES)
    assert readable_key(text, NAMES) == 'pk="a\\x1bb\'", sk=7'


@pytest.mark.parametrize(
    ("given_", "stored"),
    [
        ("1", "1"),
        ("1.0", "1"),
        ("01", "1"),
        ("1e0", "1"),
        ("+1", "1"),
        ("1.50", "1.5"),
        ("-0", "0"),
        ("0.000", "0"),
        ("1E+3", "1000"),
        ("-1.5e-3", "-0.0015"),
        (".5", "0.5"),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("1234567890.1234567890123456789012345678", "1234567890.1234567890123456789012345678"),
    ],
)
def test_numbers_are_normalised_as_dynamodb_stores_them(given_: str, stored: str) -> None:
    assert normal_number(given_) == stored


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity", "1_000", " 1", "", "0x10", "1e", "1" * 39])
def test_what_dynamodb_would_not_take_is_not_a_number(bad: str) -> None:
    with pytest.raises(ValueError):
        normal_number(bad)
