"""Commands that read backups back: restore, verify."""

from __future__ import annotations

import argparse
import re

from ..core.aws import Clients
from ..core.config import load_config
from ..core.errors import UserInputError
from . import athena
from .base import UI, command, config_args, load

MAX_THREADS = 256  # BatchWriteItem calls in flight; more only queues in this process
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")  # us-east-1, us-gov-west-1, ap-southeast-2


def _restore_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", help="the table whose backups to restore (it may no longer exist)")
    p.add_argument("--to", required=True, metavar="NEW_TABLE", help="table to restore into (created if missing)")
    config_args(p)
    p.add_argument("--at", metavar="TIME", help="ISO-8601 or epoch seconds (default: now, the latest state)")
    p.add_argument("--into-existing", action="store_true", help="change an existing non-empty table to the state")
    p.add_argument("--dry-run", action="store_true", help="show what would be written and deleted")
    p.add_argument("--key", action="append", metavar="ATTR=VALUE", help="restore one item (repeat per key part)")
    p.add_argument(
        "--where",
        metavar="PREDICATE",
        help="restore only the items matching this SQL predicate at TIME, e.g. \"tenant = 'acme' AND amount > 10\"; "
        "with --into-existing (so with --tenant): the items matching it at TIME are written, the target's items "
        "matching it now are deleted only if they did not exist at TIME, and nothing else is touched",
    )
    p.add_argument("--source-region", help="region of the backups' table (default: the config's)")
    p.add_argument("--target-region", help="region to restore into (default: the source region)")
    p.add_argument("--via-import", action="store_true", help="load with DynamoDB ImportTable (new table only)")
    p.add_argument("--allow-corrupt", action="store_true", help="skip unreadable backup objects")
    p.add_argument("--from-start", action="store_true", help="no snapshot: trust the changes as full history")
    p.add_argument("--threads", type=int, default=8, help="parallel BatchWriteItem calls (default 8)")
    p.add_argument(
        "--tenant",
        metavar="VALUE",
        help="only the items whose tenant attribute is VALUE at TIME (every tenant's folder is read, so an item "
        "that moved between tenants is exact)",
    )
    athena.engine_arg(p)


@command("restore", "restore a table to any second into a new table", _restore_args)
def cmd_restore(args: argparse.Namespace, ui: UI) -> int:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", args.to):  # DynamoDB's rule, before anything is read
        raise UserInputError(f"--to {args.to!r} is not a DynamoDB table name: 3-255 letters, digits, '_', '-' or '.'")
    if not 1 <= args.threads <= MAX_THREADS:
        raise UserInputError(f"--threads must be a whole number from 1 to {MAX_THREADS}, got {args.threads}")
    for flag, region in (("--source-region", args.source_region), ("--target-region", args.target_region)):
        if region is not None and not REGION.fullmatch(region):  # else boto3 fails late, on a made-up endpoint
            raise UserInputError(f"{flag} {region!r} is not an AWS region name, e.g. us-east-1 or eu-west-2")
    if args.engine == "athena":
        return athena.restore(args, ui)
    from ..core.timeline import iso, iso_up
    from ..restore.backups import BackupStore
    from ..restore.keys import parse_key_args
    from ..restore.restore import RestoreOptions, Restorer
    from .progress import Progress

    config = load_config(args.config, args.source_region or args.region)
    source = Clients(config.region)
    target = Clients(args.target_region or config.region)
    store = BackupStore(source, config)
    keys = None
    if args.key:
        keys = parse_key_args(args.key, store.key_info(args.table))
    opts = RestoreOptions(
        args.at,
        args.into_existing,
        args.dry_run,
        keys,
        args.allow_corrupt,
        args.from_start,
        args.via_import,
        args.threads,
        where=args.where,
    )
    opts.tenant = args.tenant
    with Progress(f"restore {args.table} -> {args.to}") as bar:
        result = Restorer(target, store, progress=bar.update).restore(args.table, args.to, opts)
    earliest = iso_up(result.earliest) if result.earliest is not None else "unknown (no snapshot)"
    ui.line(f"earliest restorable time of {args.table}: {earliest}")
    for name in result.corrupt:
        ui.line(f"warning: corrupt backup object skipped: {name}")
    for note in result.notes:
        ui.line(f"note: {note}")
    if result.items == 0 and (args.where or args.tenant):  # a typo'd name or a wrong literal type matches nothing
        chosen = " and ".join(f for f, v in (("--where", args.where), ("--tenant", args.tenant)) if v)
        ui.line(
            f"note: no item of {args.table} at {iso(result.at)} matched {chosen}: check the attribute's name "
            "(names are case-sensitive) and the literal's type (a number literal compares with N values, "
            "'text' with S values)"
        )
    if result.dry_run:
        ui.line(f"dry run: {result.items} items at {iso(result.at)}; would put {result.puts}, delete {result.deletes}")
        if result.untouched:
            ui.line(
                f"  would keep {result.untouched}: in the slice now, outside it at TIME, existed then (never deleted)"
            )
        for line in result.sample:
            ui.line(f"  {line}")
        return 0
    if result.untouched:
        ui.line(
            f"note: {result.untouched} item(s) of {args.to} kept: they are in the slice now but were outside it "
            f"at {iso(result.at)}, and an item that existed then is never deleted; e.g. "
            + "; ".join(s.removeprefix("kept ").split(" (")[0] for s in result.sample if s.startswith("kept"))
        )
    check = "verified" if result.verified else "NOT verified"
    ui.line(
        f"restored {args.table} at {iso(result.at)} into {args.to} ({target.region}): {result.items} items, "
        f"{result.puts} written, {result.deletes} deleted, checksum {result.checksum} {check}"
    )
    return 0 if result.verified else 1


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    config_args(p)
    p.add_argument("--sample", type=int, metavar="N", help="compare N sampled items instead of the whole table")


@command("verify", "check that the backups hold exactly what the live table holds", _verify_args)
def cmd_verify(args: argparse.Namespace, ui: UI) -> int:
    from ..restore.backups import BackupStore
    from ..restore.verify import Verifier

    config, clients = load(args)
    result = Verifier(clients, BackupStore(clients, config)).verify(args.table, args.sample)
    scope = f"a sample of {args.sample}" if args.sample else "every item"
    ui.line(f"{args.table}: compared {scope}; live {result.live_items}, in backups {result.backed_up_items}")
    for kind in ("missing", "extra", "differing"):
        keys = getattr(result, kind)
        if keys:
            ui.line(f"  {len(keys)} {kind}: {'; '.join(keys[:5])}" + (" ..." if len(keys) > 5 else ""))
    if result.resolved_in_flight:
        ui.line(f"  {result.resolved_in_flight} difference(s) were changes in flight and have since landed")
    ui.line("OK: the backups match the table" if result.ok else "DIFFERENT: the backups do not match the table")
    return 0 if result.ok else 1


def _checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    config_args(p)
    p.add_argument("--at", metavar="TIME", help="as of this time (default: now); ISO-8601 or epoch seconds")
    athena.engine_arg(p)


@command("checkpoint", "write a new base from the last base and the changes since (no table read)", _checkpoint_args)
def cmd_checkpoint(args: argparse.Namespace, ui: UI) -> int:
    if args.engine == "athena":
        return athena.checkpoint(args, ui)
    import time

    from ..restore.backups import BackupStore
    from ..restore.checkpoint import Checkpointer
    from ..restore.state import iso, parse_time

    config, clients = load(args)
    at = parse_time(args.at, time.time()) if args.at else None
    result = Checkpointer(BackupStore(clients, config)).run(args.table, at)
    if result.reused:
        ui.line(f"checkpoint {result.run_id} of {args.table} as of {iso(result.at)} exists already")
    else:
        ui.line(
            f"checkpoint {result.run_id} of {args.table} as of {iso(result.at)}: {result.items} items, "
            f"{result.bytes_read:,} bytes downloaded, {result.seconds:.1f}s"
        )
    return 0
