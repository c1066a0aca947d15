"""`--engine athena` of restore, checkpoint, query and history: the same commands, with the state
computed by Athena in the account instead of DuckDB here (docs/athena.md)."""

from __future__ import annotations

import argparse
import os
import time
from typing import TYPE_CHECKING

from ..core.aws import Clients
from ..core.config import Config, load_config
from ..core.errors import UserInputError
from .base import UI, load

if TYPE_CHECKING:
    from ..athena.engine import AthenaEngine


def engine_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=("duckdb", "athena"),
        default="duckdb",
        help="where the state is computed: DuckDB here (default) or Athena in the account",
    )


def _engine(clients: Clients, config: Config) -> AthenaEngine:
    from ..athena.engine import AthenaEngine
    from ..local.emulator import EMULATOR_MARK

    if os.environ.get(EMULATOR_MARK):
        # moto's Athena answers every query with no rows: a restore would be empty, a checkpoint
        # an empty base that later restores would trust.
        raise UserInputError(
            "--engine athena needs a real AWS account: the embedded emulator's Athena runs no SQL; "
            "use --engine duckdb here"
        )
    return AthenaEngine(clients, config)


def _mb(scanned: int) -> str:
    return f"{scanned / 1e6:,.1f} MB scanned by Athena"


def restore(args: argparse.Namespace, ui: UI) -> int:
    from ..athena.restore import restore as athena_restore
    from ..core.timeline import iso, iso_up

    unsupported = [
        flag
        for flag, given in (
            ("--into-existing", args.into_existing),
            ("--dry-run", args.dry_run),
            ("--key", args.key),
            ("--allow-corrupt", args.allow_corrupt),
        )
        if given
    ]
    if unsupported:
        raise UserInputError(
            f"{', '.join(unsupported)}: not with --engine athena (it imports into a new table); use --engine duckdb"
        )
    config = load_config(args.config, args.source_region or args.region)
    engine = _engine(Clients(config.region), config)
    target = Clients(args.target_region or config.region)
    if getattr(args, "tenant", None):
        raise UserInputError(
            "--tenant: not with --engine athena (its tables read the flat layout); use --where on the "
            "tenant attribute, or --engine duckdb"
        )
    result = athena_restore(engine, target, args.table, args.to, args.at, args.from_start, args.where)
    earliest = iso_up(result.earliest) if result.earliest is not None else "unknown (no snapshot)"
    ui.line(f"earliest restorable time of {args.table}: {earliest}")
    for note in result.notes:
        ui.line(f"note: {note}")
    ui.line(
        f"restored {args.table} at {iso(result.at)} into {args.to} ({target.region}) by Athena and ImportTable: "
        f"{result.items} items ({result.oversize} oversize) from {result.location}; {_mb(result.scanned_bytes)}"
    )
    return 0


def checkpoint(args: argparse.Namespace, ui: UI) -> int:
    from ..athena.restore import checkpoint as athena_checkpoint
    from ..restore.state import iso, parse_time

    config, clients = load(args)
    at = parse_time(args.at, time.time()) if args.at else None
    result = athena_checkpoint(_engine(clients, config), args.table, at)
    if result.reused:
        ui.line(f"checkpoint {result.run_id} of {args.table} as of {iso(result.at)} exists already")
    else:
        ui.line(
            f"checkpoint {result.run_id} of {args.table} as of {iso(result.at)}: {result.items} items, "
            f"{_mb(result.scanned_bytes)}"
        )
    return 0


def query(args: argparse.Namespace, ui: UI) -> int:
    from ..athena.explore import query as athena_query
    from ..explore.query import render
    from ..restore.state import parse_time

    config, clients = load(args)
    at = parse_time(args.at, time.time()) if args.at else None
    found = athena_query(_engine(clients, config), args.table, args.sql, at)
    ui.line(render(found.columns, found.rows, args.format))
    if found.truncated:
        ui.line(f"note: only the first {len(found.rows)} rows are shown; add a LIMIT or an aggregate")
    return 0


def history(args: argparse.Namespace, ui: UI) -> int:
    from ..athena.explore import history as athena_history
    from ..explore.history import format_history
    from ..restore.backups import LocalBackups
    from ..restore.keys import parse_key_args

    config, clients = load(args)
    engine = _engine(clients, config)
    key = parse_key_args(args.key, LocalBackups(args.table, schema=engine.schema(args.table)))
    for line in format_history(athena_history(engine, args.table, key)):
        ui.line(line)
    return 0
