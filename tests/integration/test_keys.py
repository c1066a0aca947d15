"""Hard keys end to end: verify, restore and history of keys holding every hard character."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.verify import Verifier

from ..helpers import HARD, cli, contents


@pytest.fixture
def hard_keys(
    deployed: tuple[Config, LocalRuntime], config_path: str, aws: Clients, make_table: Callable[..., str]
) -> str:
    """A protected table whose string keys hold every hard character; returns a config path."""
    _, runtime = deployed
    make_table("hard", range_key=True)
    runtime.settle()
    for n, c in enumerate(HARD):
        for sk in ("1", "1.5"):
            aws.dynamodb.put_item(TableName="hard", Item={"pk": {"S": f"k{c}"}, "sk": {"N": sk}, "v": {"N": str(n)}})
    runtime.settle()
    return config_path


def test_hard_keys_verify_restore_survive_into_existing_and_have_history(
    hard_keys: str, deployed: tuple[Config, LocalRuntime], aws: Clients, tmp_path: Path
) -> None:
    # GIVEN a table keyed by every hard character, captured (the hard_keys fixture)
    config, _ = deployed
    source = contents(aws, "hard")
    assert len(source) == 2 * len(HARD)
    # verify: every item found in the backups, none missing or extra
    result = Verifier(aws, BackupStore(aws, config, tmp_path / "v"), sleep=lambda s: None).verify("hard")
    assert result.ok and result.live_items == result.backed_up_items == 2 * len(HARD), result
    # a whole restore, then a restore into that copy: nothing to put, nothing deleted
    code, out, err = cli("restore", "hard", "--to", "hard-copy", "--config", hard_keys)
    assert code == 0 and contents(aws, "hard-copy") == source, out + err
    code, out, err = cli("restore", "hard", "--to", "hard-copy", "--into-existing", "--config", hard_keys)
    assert code == 0 and "0 written, 0 deleted" in out and contents(aws, "hard-copy") == source, out + err
    # --key finds an item whose key holds ESC, with the number given as the user types it
    for sk, stored in (("1.0", "1"), ("01", "1"), ("1e0", "1"), ("+1", "1"), ("1.50", "1.5")):
        key = {"pk": {"S": "k\x1b"}, "sk": {"N": stored}}
        aws.dynamodb.delete_item(TableName="hard-copy", Key=key)
        code, out, err = cli(
            "restore", "hard", "--to", "hard-copy", "--into-existing", "--key", "pk=k\x1b", "--key", f"sk={sk}",
            "--config", hard_keys,
        )  # fmt: skip
        assert code == 0 and "1 items, 1 written" in out and "verified" in out, (sk, out, err)
        assert contents(aws, "hard-copy") == source
    # history of ESC, VT and US keys
    for c in ("\x1b", "\x0b", "\x1f"):
        code, out, err = cli("history", "hard", "--key", f"pk=k{c}", "--key", "sk=1.0", "--config", hard_keys)
        assert code == 0 and "INSERT" in out and f"+ v = {HARD.index(c)}" in out, (repr(c), out, err)


def test_a_key_no_backup_holds_is_an_error_not_verified(hard_keys: str, aws: Clients) -> None:
    for command in (["history", "hard"], ["restore", "hard", "--to", "hard-one"]):
        code, out, err = cli(*command, "--key", "pk=nobody", "--key", "sk=2", "--config", hard_keys)
        assert code == 2 and "--key pk='nobody', sk=2: no such item in the backups of hard" in err, (out, err)
        assert err.count("\n") == 1 and "verified" not in out
    assert "hard-one" not in aws.dynamodb.list_tables()["TableNames"]
