"""Commands that look into backups: history, query, athena-ddl."""

from __future__ import annotations

import argparse

from ..core.config import load_config
from ..core.errors import UserInputError
from . import athena
from .base import UI, command, config_args, load


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    p.add_argument("--key", action="append", required=True, metavar="ATTR=VALUE", help="the item's key (repeat)")
    config_args(p)
    p.add_argument(
        "--tenant",
        metavar="VALUE",
        help="refuse an item that never belonged to this tenant (multi-tenant layout); every tenant's folder is "
        "read, so the changes of an item that moved to another tenant are shown",
    )
    athena.engine_arg(p)


@command("history", "every version of one item, with a diff between versions", _history_args)
def cmd_history(args: argparse.Namespace, ui: UI) -> int:
    if args.engine == "athena":
        return athena.history(args, ui)
    from ..core.naming import tenant_of
    from ..explore.history import format_history, item_history
    from ..restore.backups import BackupStore
    from ..restore.keys import parse_key_args
    from ..restore.restore import check_tenant

    config, clients = load(args)
    attribute = config.tenant_attribute
    if args.tenant is not None:
        if not attribute:
            raise UserInputError("--tenant needs the multi-tenant layout: set tenantAttribute in the config")
        check_tenant(args.tenant)
    store = BackupStore(clients, config)
    # every folder: a change that moves the item to another tenant is filed under that tenant only
    backups = store.sync(args.table)
    versions = item_history(backups, parse_key_args(args.key, backups), store)  # no version: an error
    if args.tenant and attribute:  # another tenant's item all along: not shown
        owners = sorted({tenant_of(v.image, attribute) for v in versions if v.image is not None})
        if owners and args.tenant not in owners:
            raise UserInputError(
                f"this item belongs to tenant {', '.join(owners)}, never to {args.tenant}; run history with "
                "that --tenant, or without --tenant"
            )
    for line in format_history(versions):
        ui.line(line)
    return 0


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    p.add_argument("sql", help="SQL over the views changes, state and snapshots")
    config_args(p)
    p.add_argument("--at", metavar="TIME", help="time of the `state` view (default: latest)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    athena.engine_arg(p)


@command("query", "SQL (DuckDB, or Athena) over a table's backups", _query_args)
def cmd_query(args: argparse.Namespace, ui: UI) -> int:
    if args.engine == "athena":
        return athena.query(args, ui)
    import time

    from ..explore.query import open_views, render, run_query
    from ..restore.backups import BackupStore
    from ..restore.state import parse_time

    config, clients = load(args)
    store = BackupStore(clients, config)
    backups = store.sync(args.table)
    at = parse_time(args.at, time.time()) if args.at else None
    columns, rows = run_query(open_views(backups, at, store), args.sql)
    ui.line(render(columns, rows, args.format))
    return 0


def _athena_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    config_args(p)
    p.add_argument("--database", default="dynamodb_backups")


@command("athena-ddl", "print Athena DDL over a table's backups", _athena_args)
def cmd_athena(args: argparse.Namespace, ui: UI) -> int:
    from ..explore.athena import athena_ddl

    config = load_config(args.config, args.region)
    ui.line(athena_ddl(config, args.table, args.database))
    return 0
