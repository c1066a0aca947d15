"""Commands that protect tables: provision, deprovision, status, backfill."""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from datetime import datetime

from ..core.errors import UserInputError
from ..core.naming import LIFECYCLE_RULE_ID
from ..provisioning.fleet import select_tables
from ..provisioning.health import Health, lag_text
from ..provisioning.optin import OptIn
from ..provisioning.provisioner import Provisioner, Result
from ..provisioning.quota import quota_line, stream_quota
from ..provisioning.status import TableStatus, fleet_status
from ..provisioning.steps import PrintingExecutor
from ..provisioning.whitelist import load_whitelist
from ..restore.backups import check_bucket
from .base import UI, command, config_args, dry_run_exit, load, report, run_tables, whitelist_args


@command("provision", "protect the tables of a whitelist", whitelist_args)
def cmd_provision(args: argparse.Namespace, ui: UI) -> int:
    whitelist = load_whitelist(args.whitelist)
    config, clients = load(args)
    optin = OptIn.from_config(config, strict=True)
    check_bucket(clients, config)
    tables = select_tables(clients, whitelist.provision_all, whitelist.table_names)
    explicit = set(whitelist.table_names)
    provisioner = Provisioner(clients, config)
    executor = PrintingExecutor(ui) if args.dry_run else None

    def one(table: str) -> Result:
        if not optin.covers(table):
            # An explicitly named table the filter excludes is a failure; others are skipped.
            reason = "excluded by the opt-in filter (tableNameMatchRegex/ExcludeRegex/optInHook)"
            return Result(table, "not_protectable" if table in explicit else "excluded", reason=reason)
        return provisioner.ensure(table, executor)

    fixes: list[str] = []
    results = run_tables(one, tables, args.concurrency, ui, fixes)
    if args.dry_run:
        ui.line(quota_line(stream_quota(clients)))
        return dry_run_exit(results, ui)
    return report(results, ui, "provisioned", fixes, "left unprotected")


def _deprovision_args(p: argparse.ArgumentParser) -> None:
    whitelist_args(p)
    p.add_argument("--no-wait", action="store_true", help="start draining and return; reconcile finishes")


@command("deprovision", "stop backing up the tables of a whitelist (backups stay)", _deprovision_args)
def cmd_deprovision(args: argparse.Namespace, ui: UI) -> int:
    whitelist = load_whitelist(args.whitelist)
    config, clients = load(args)
    tables = select_tables(clients, whitelist.provision_all, whitelist.table_names)
    provisioner = Provisioner(clients, config)
    executor = PrintingExecutor(ui) if args.dry_run else None
    fixes: list[str] = []
    results = run_tables(
        lambda t: provisioner.remove(t, executor, wait=not args.no_wait), tables, args.concurrency, ui, fixes
    )
    if args.dry_run:
        return dry_run_exit(results, ui)
    return report(results, ui, "deprovisioned", fixes, "not deprovisioned")


def _status_args(p: argparse.ArgumentParser) -> None:
    config_args(p)
    p.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    p.add_argument(
        "--watch",
        nargs="?",
        const=10.0,
        type=float,
        metavar="SECONDS",
        help="show it again every SECONDS (default 10) until Ctrl-C; exits by the last showing",
    )
    p.add_argument("--watch-count", type=int, help=argparse.SUPPRESS)  # tests: stop after N showings


@command("status", "show every table's protection", _status_args)
def cmd_status(args: argparse.Namespace, ui: UI) -> int:
    if args.watch is not None and not (math.isfinite(args.watch) and args.watch > 0):
        raise UserInputError(f"--watch takes a number of seconds > 0, got {args.watch}")
    config, clients = load(args)

    def render() -> int:
        return show_status(fleet_status(clients, config), ui, args.json)

    if args.watch is None:
        return render()
    return watch(render, ui, args.watch, args.watch_count)


def show_status(rows: list[TableStatus], ui: UI, as_json: bool = False) -> int:
    """Print the rows; the exit code: 1 while an opted-in table is not protected."""
    if as_json:
        ui.line(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        header = (
            "TABLE",
            "OPTED-IN",
            "STREAM",
            "DELIVERY",
            "MAPPING",
            "LAST BACKUP",
            "RESTORABLE SINCE",
            "LAG",
            "DELIVERY ERROR",
            "PROTECTED",
        )
        data = [
            (
                r.table,
                "yes" if r.opted_in else "no",
                r.stream_view_type or "-",
                r.delivery_status or "-",
                r.mapping_state or "-",
                r.last_backup or "-",
                (r.restorable_since or "-") + (f" ({len(r.gaps)} gap(s): see --json)" if r.gaps else ""),
                lag_text(Health(r.lag_seconds, r.delivery_error, r.metrics_note)) if r.delivery_status else "-",
                r.delivery_error or "-",
                "yes" if r.protected else f"NO: {r.problem}" if r.opted_in else "no",
            )
            for r in rows
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *data, strict=False)]
        for row in (header, *data):
            ui.line("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip())
        for note in dict.fromkeys(r.metrics_note for r in rows if r.metrics_note):  # once, not per table
            ui.line(f"note: {note}")
        for r in rows:
            if r.untrusted_bases:
                ui.line(
                    f"note: {r.table}: checkpoint(s) {', '.join(r.untrusted_bases)} no longer trusted (a change "
                    "older than them landed after them); restores use the base before them"
                )
            if r.checkpoint_note:
                ui.line(f"note: {r.table}: {r.checkpoint_note}")
        if any(r.frees_pruned is False for r in rows):
            ui.line(
                f"note: changeRetentionDays is set but the bucket lacks lifecycle rule {LIFECYCLE_RULE_ID}: "
                "pruned change objects stay as noncurrent versions and are billed; run deploy to add it"
            )
    unprotected = [r for r in rows if r.opted_in and not r.protected]
    return 1 if unprotected else 0


def watch(
    render: Callable[[], int],
    ui: UI,
    every: float,
    count: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Render every `every` seconds until Ctrl-C (or `count` renders); the last render's exit
    code (130 if none finished)."""
    code, shown = 130, 0
    try:
        while count is None or shown < count:
            if shown:
                sleep(every)
            clear = "\x1b[H\x1b[2J" if ui.out.isatty() else ""  # a terminal shows the newest only
            ui.line(f"{clear}{datetime.now().astimezone():%Y-%m-%d %H:%M:%S} (every {every:g}s, Ctrl-C to stop)")
            code = render()
            shown += 1
    except KeyboardInterrupt:
        pass
    return code


def _backfill_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    config_args(p)
    p.add_argument("--segments", type=int, default=8, help="parallel scan segments (default 8)")
    p.add_argument("--max-rcu", type=float, help="read capacity units per second to spend at most")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run")
    p.add_argument("--export", action="store_true", help="use ExportTableToPointInTime (needs PITR) instead")


@command("backfill", "snapshot a protected table's current items into its backups", _backfill_args)
def cmd_backfill(args: argparse.Namespace, ui: UI) -> int:
    from ..provisioning.status import require_protected
    from ..snapshot.backfill import Backfill
    from ..snapshot.export import export_snapshot
    from .progress import Progress

    config, clients = load(args)
    require_protected(clients, config, args.table)
    if args.export:
        result = export_snapshot(clients, config, args.table)
    else:
        with Progress(f"backfill {args.table}") as bar:
            result = Backfill(clients, config, args.table, args.segments, args.max_rcu, progress=bar.update).run(
                args.resume
            )
    rate = result.items / result.seconds if result.seconds else 0
    resumed = f", {result.resumed_segments} segment(s) already done" if result.resumed_segments else ""
    ui.line(
        f"backfill {result.run_id}: {result.items} items in {result.files} file(s), {result.seconds:.1f}s "
        f"({rate:,.0f} items/s){resumed}"
    )
    return 0
