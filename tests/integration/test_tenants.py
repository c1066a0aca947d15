"""Multi-tenant layout on the emulator: the JQ query against the real jq, listing both layouts,
retention in both, and the whole story (capture per tenant, whole and tenant-scoped restores)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.core import timeline_store
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import UserInputError
from dynamo_continuous_backup.core.timeline import Base, Timeline
from dynamo_continuous_backup.core.timeline_store import list_changes, prune_changes
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.provisioning.destination import tenant_query
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer

from ..fakes import clients_with
from ..helpers import BUCKET, REGION, cli, contents
from ..unit.test_tenant import RECORDS

HOUR = 3600.0
T0 = 1767225600.0  # 2026-01-01T00:00:00Z


@pytest.mark.skipif(shutil.which("jq") is None, reason="no jq on this machine")
def test_real_jq_agrees_with_the_evaluator() -> None:
    lines = "\n".join(json.dumps(r) for r, _ in RECORDS)
    out = subprocess.run(["jq", "-c", tenant_query("tenant-id")], input=lines, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["tenant"] for line in out.stdout.splitlines()] == [t for _, t in RECORDS]


class Hours:
    """A window as list_changes sees it: its hour partitions."""

    def __init__(self, *hours: str) -> None:
        self._hours = list(hours)

    def hours(self) -> list[str]:
        return self._hours


class CountingS3:
    """The S3 client, counting the object keys its listings return (the cost of a listing)."""

    def __init__(self, real: Any) -> None:
        self.real, self.listed = real, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_paginator(self, operation: str) -> Any:
        outer, pages = self, self.real.get_paginator(operation)

        class Counted:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                # one key a page, so the count shows where each listing stopped
                for page in pages.paginate(**kwargs, PaginationConfig={"PageSize": 1}):
                    outer.listed += len(page.get("Contents", []))
                    yield page

        return Counted()


def put(aws: Clients, *keys: str) -> None:
    for key in keys:
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}\n")


def counting(aws: Clients) -> tuple[Clients, CountingS3]:
    s3 = CountingS3(aws.s3)
    return clients_with(aws, s3=s3), s3


@pytest.fixture
def both_layouts(aws: Clients, config: Config) -> Config:
    """A table with flat hours (before it was partitioned) and two tenants' hours, many outside
    the window read below, and a table whose name starts like this one's."""
    put(aws, *(f"backups/orders/2026/01/01/{h:02d}/f-{h}" for h in range(0, 12)))
    for tenant in ("acme", "globex"):
        put(aws, *(f"backups/orders/tenant={tenant}/2026/01/01/{h:02d}/o-{h}" for h in range(8, 24)))
    put(aws, "backups/orders2/2026/01/01/10/x", "backups/@errors/orders/activePartitionExceeded/e")
    return config


def test_listing_finds_both_layouts_and_reads_only_the_window(both_layouts: Config, aws: Clients) -> None:
    clients, s3 = counting(aws)
    window: Any = Hours("2026/01/01/10", "2026/01/01/11")
    found = sorted(o["Key"] for o in list_changes(clients, both_layouts, "orders", window))
    assert found == [
        "backups/orders/2026/01/01/10/f-10",
        "backups/orders/2026/01/01/11/f-11",
        "backups/orders/tenant=acme/2026/01/01/10/o-10",
        "backups/orders/tenant=acme/2026/01/01/11/o-11",
        "backups/orders/tenant=globex/2026/01/01/10/o-10",
        "backups/orders/tenant=globex/2026/01/01/11/o-11",
    ]
    # each folder's listing stops at the first key past the window, not at the other 40-odd
    assert s3.listed == len(found) + 3


def test_tenant_scoped_listing_reads_only_its_folders(both_layouts: Config, aws: Clients) -> None:
    put(aws, "backups/orders/tenant=__none__/2026/01/01/10/p")  # pointer lines of oversize records
    window: Any = Hours("2026/01/01/10")
    found = sorted(o["Key"] for o in list_changes(aws, both_layouts, "orders", window, "acme"))
    assert found == [
        "backups/orders/2026/01/01/10/f-10",  # written before partitioning: every tenant's
        "backups/orders/tenant=__none__/2026/01/01/10/p",
        "backups/orders/tenant=acme/2026/01/01/10/o-10",
    ]


def test_retention_prunes_every_folder(both_layouts: Config, aws: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    newest = Base("r1", "scan", T0 + 20 * HOUR + 600, T0 + 20 * HOUR + 605, 10, "m")
    timeline = Timeline("orders").begin("L", T0).with_base("L", newest)
    monkeypatch.setattr(timeline_store, "read_timeline", lambda *_: timeline)
    config = both_layouts.replace(change_retention_days=1)
    removed = prune_changes(aws, config, "orders", now=T0 + 30 * 86400)  # cutoff: the base's hour, 20:00
    assert removed == 12 + 12 + 12  # flat 00-11; each tenant's 08-19
    left = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="backups/")["Contents"]]
    assert sorted(k for k in left if k.startswith("backups/orders/")) == sorted(
        f"backups/orders/tenant={t}/2026/01/01/{h}/o-{h}" for t in ("acme", "globex") for h in range(20, 24)
    )
    assert "backups/orders2/2026/01/01/10/x" in left  # another table's objects are never touched


# -- the whole story on the emulator -----------------------------------------------------------


@pytest.fixture
def tenant_deployed(aws: Clients, tmp_path: Path) -> tuple[Config, LocalRuntime]:
    """deploy.py with tenantAttribute set, and a local runtime driving it."""
    from dynamo_continuous_backup.cli.main import UI, main
    from dynamo_continuous_backup.core.config import load_config

    path = tmp_path / "config.hjson"
    settings = {"firehoseDeliveryBucket": BUCKET, "firehoseDeliveryPrefix": "backups", "region": REGION}
    path.write_text(
        json.dumps({**settings, "tenantAttribute": "tenant", "drainSeconds": 1, "streamsBatchingWindowSeconds": 0})
    )
    out = io.StringIO()
    assert main(["deploy", "--config", str(path)], UI(out, out)) == 0, out.getvalue()
    return load_config(path), LocalRuntime(aws)


def write(aws: Clients, table: str, n: int, tenant: str, extra: str = "") -> None:
    for i in range(n):
        item = {"pk": {"S": f"{tenant}-{i}"}, "tenant": {"S": tenant}, "v": {"S": f"{extra}{i}"}}
        aws.dynamodb.put_item(TableName=table, Item=item)


def change_keys(aws: Clients, prefix: str) -> list[str]:
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_tenants_land_in_their_folders_and_restore_whole_or_by_tenant(
    tenant_deployed: tuple[Config, LocalRuntime],
    aws: Clients,
    make_table: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, runtime = tenant_deployed
    # GIVEN a table protected with tenantAttribute (its base snapshot holds both tenants' first
    # items): its delivery stream partitions by tenant
    make_table("orders")
    write(aws, "orders", 2, "initech")
    write(aws, "orders", 1, "acme", extra="early-")
    runtime.settle()
    dest = aws.firehose.describe_delivery_stream(DeliveryStreamName="orders")["DeliveryStreamDescription"]
    assert dest["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"].endswith(
        "tenant=!{partitionKeyFromQuery:tenant}/!{timestamp:yyyy/MM/dd/HH}/"
    )
    # WHEN two tenants write, one item changes, one is removed
    write(aws, "orders", 5, "acme")
    write(aws, "orders", 4, "globex")
    write(aws, "orders", 1, "acme", extra="v2-")
    aws.dynamodb.delete_item(TableName="orders", Key={"pk": {"S": "globex-0"}})
    runtime.settle()
    time.sleep(1.05)  # change times have one-second resolution
    # THEN each tenant's changes are in its own folder and nowhere else
    keys = change_keys(aws, "backups/orders/")
    assert {k.split("/")[2] for k in keys} == {"tenant=acme", "tenant=globex"}
    for key in keys:
        tenant = key.split("/")[2].removeprefix("tenant=")
        body = aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        for line in body.splitlines():
            rec = json.loads(line)
            assert (rec.get("NewImage") or rec["OldImage"])["tenant"]["S"] == tenant

    # WHEN the whole table is restored: it equals the source (both tenants read)
    whole = BackupStore(aws, config, tmp_path / "whole")
    result = Restorer(aws, whole).restore("orders", "orders-all", RestoreOptions())
    assert result.verified and contents(aws, "orders-all", ("pk",)) == contents(aws, "orders", ("pk",))

    # WHEN only acme is restored (through the CLI): exactly acme's items
    monkeypatch.setenv("DCB_CACHE_DIR", str(tmp_path / "acme"))
    path = str(tmp_path / "config.hjson")
    code, out, err = cli("restore", "orders", "--to", "orders-acme", "--tenant", "acme", "--config", path)
    assert code == 0, out + err
    acme = {k: v for k, v in contents(aws, "orders", ("pk",)).items() if json.loads(k)[0]["S"].startswith("acme")}
    assert len(acme) == 5 and contents(aws, "orders-acme", ("pk",)) == acme
    # ... and it read what the whole restore reads (every tenant's folder: an item may have moved)
    acme_store = BackupStore(aws, config, tmp_path / "acme2")
    Restorer(aws, acme_store).restore("orders", "orders-acme2", RestoreOptions(tenant="acme"))
    assert 0 < acme_store.fetched_bytes == whole.fetched_bytes
    # WHEN an acme item (in the base, changed since) is asked for as globex's, THEN it is refused
    code, out, err = cli("history", "orders", "--key", "pk=acme-0", "--tenant", "globex", "--config", path)
    assert code == 2 and "belongs to tenant acme, never to globex" in err and out == ""
    code, out, err = cli("history", "orders", "--key", "pk=acme-0", "--tenant", "acme", "--config", path)
    assert code == 0 and "v2-0" in out, err


def test_tenant_restore_is_refused_without_the_layout_or_with_an_unsafe_value(
    tenant_deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], tmp_path: Path
) -> None:
    config, runtime = tenant_deployed
    make_table("orders")
    write(aws, "orders", 1, "acme")
    runtime.settle()
    with pytest.raises(UserInputError, match="no safe key segment"):
        Restorer(aws, BackupStore(aws, config, tmp_path)).restore("orders", "x", RestoreOptions(tenant="a/b"))
    # the empty value and the reserved folder names name no tenant: one line each, exit 2
    path = str(tmp_path / "config.hjson")
    for value, reason in (("", "is empty"), ("__invalid__", "reserved"), ("__none__", "reserved")):
        for argv in (["restore", "orders", "--to", "x-r"], ["history", "orders", "--key", "pk=acme-0"]):
            code, out, err = cli(*argv, "--tenant", value, "--config", path)
            assert (code, err.count("\n"), out) == (2, 1, ""), (value, argv, err)
            assert reason in err and "Traceback" not in err
    flat = config.replace(tenant_attribute=None)
    with pytest.raises(UserInputError, match="set tenantAttribute"):
        Restorer(aws, BackupStore(aws, flat, tmp_path)).restore("orders", "x", RestoreOptions(tenant="acme"))


def test_flat_tables_keep_the_old_layout(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], tmp_path: Path
) -> None:
    config, runtime = deployed
    make_table("orders")
    runtime.settle()
    write(aws, "orders", 3, "acme")
    runtime.settle()
    time.sleep(1.05)
    keys = change_keys(aws, "backups/orders/")
    assert keys and all(k.split("/")[2].isdigit() for k in keys)  # YYYY/MM/DD/HH, no tenant= folder
    result = Restorer(aws, BackupStore(aws, config, tmp_path)).restore("orders", "orders-copy", RestoreOptions())
    assert result.verified and contents(aws, "orders-copy", ("pk",)) == contents(aws, "orders", ("pk",))


def test_an_item_that_moved_tenants_is_restored_and_shown_as_it_was_at_t(
    tenant_deployed: tuple[Config, LocalRuntime],
    aws: Clients,
    make_table: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, runtime = tenant_deployed
    # GIVEN acme's items in the base: one changed, then moved to globex; one moved, then removed
    make_table("orders")
    write(aws, "orders", 3, "acme")
    runtime.settle()
    time.sleep(1.05)  # change times have one-second resolution
    at_base = time.time()
    time.sleep(1.05)  # so the changes below fall in later seconds than at_base
    moved = {"pk": {"S": "acme-0"}, "tenant": {"S": "globex"}, "v": {"S": "moved"}}
    aws.dynamodb.put_item(TableName="orders", Item={**moved, "tenant": {"S": "acme"}, "v": {"S": "changed"}})
    aws.dynamodb.put_item(TableName="orders", Item=moved)  # filed under tenant=globex only
    aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": "acme-1"}, "tenant": {"S": "globex"}})
    aws.dynamodb.delete_item(TableName="orders", Key={"pk": {"S": "acme-1"}})  # OldImage: globex
    runtime.settle()
    time.sleep(1.05)
    source = contents(aws, "orders", ("pk",))
    monkeypatch.setenv("DCB_CACHE_DIR", str(tmp_path / "cache"))
    path = str(tmp_path / "config.hjson")
    # WHEN acme and globex are each restored as of now
    for tenant in ("acme", "globex"):
        code, out, err = cli("restore", "orders", "--to", f"orders-{tenant}", "--tenant", tenant, "--config", path)
        assert code == 0 and "verified" in out, out + err
    # THEN each holds exactly the items whose tenant is theirs now: acme-0 is globex's, acme-1 is gone
    for tenant in ("acme", "globex"):
        mine = {k: v for k, v in source.items() if v["tenant"]["S"] == tenant}
        assert contents(aws, f"orders-{tenant}", ("pk",)) == mine
    assert json.dumps([{"S": "acme-0"}]) in contents(aws, "orders-globex", ("pk",))
    # AND as of the base's time, acme's restore still holds all three as they were
    code, out, err = cli(
        "restore", "orders", "--to", "orders-acme-then", "--tenant", "acme", "--at", str(at_base), "--config", path
    )
    assert code == 0 and len(contents(aws, "orders-acme-then", ("pk",))) == 3, out + err
    # AND history --tenant acme shows the item's later changes, the move included
    code, out, err = cli("history", "orders", "--key", "pk=acme-0", "--tenant", "acme", "--config", path)
    assert code == 0 and "'changed' -> 'moved'" in out and "'acme' -> 'globex'" in out, out + err
