import re

import pytest

from dynamo_continuous_backup.core import naming


def test_short_names_are_the_table_name() -> None:
    assert naming.delivery_stream_name("orders") == "orders"
    assert naming.delivery_stream_name("x" * 64) == "x" * 64


def test_long_names_sharing_a_prefix_get_distinct_valid_names() -> None:
    a, b = "p" * 70 + "-alpha", "p" * 70 + "-beta"
    na, nb = naming.delivery_stream_name(a), naming.delivery_stream_name(b)
    assert na != nb
    for name in (na, nb):
        assert len(name) <= 64 and re.fullmatch(r"[A-Za-z0-9_.-]+", name)
    assert naming.delivery_stream_name(a) == na  # deterministic


def test_s3_prefixes_use_the_full_table_name() -> None:
    long = "t" * 200
    assert naming.changes_prefix("backups", long) == f"backups/{long}/"
    assert "@" in naming.snapshots_prefix("backups", long)  # cannot collide with a table's prefix


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:dynamodb:us-east-1:1:table/my.table-1/stream/2015-06-27T00:48:05.899",
        "arn:aws:dynamodb:r:1:table/my.table-1",
    ],
)
def test_table_from_arn(arn: str) -> None:
    assert naming.table_from_arn(arn) == "my.table-1"


def test_ownership_tags_round_trip() -> None:
    assert naming.owned_table(naming.ownership_tags("t")) == "t"
    assert naming.owned_table([{"Key": naming.TAG_TABLE, "Value": "t"}]) is None
