"""`dynamo-backup` command line. Commands are thin: call the library, print through `UI`,
turn a BackupError into one line on stderr and a non-zero exit code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from .. import __version__
from ..core.aws import Clients, aws_error
from ..core.config import Config, load_config
from ..core.errors import AwsError, BackupError
from ..provisioning.fleet import run_many, select_tables
from ..provisioning.optin import OptIn
from ..provisioning.provisioner import Provisioner, Result
from ..provisioning.status import fleet_status
from ..provisioning.whitelist import load_whitelist
from ..restore.backups import check_bucket


class UI:
    """The one place CLI output goes; tests pass their own streams."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def error(self, text: str) -> None:
        print(f"error: {text}", file=self.err, flush=True)


Command = Callable[[argparse.Namespace, UI], int]
COMMANDS: dict[str, tuple[Command, str, Callable[[argparse.ArgumentParser], None]]] = {}


def command(
    name: str, help_text: str, add_args: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        COMMANDS[name] = (func, help_text, add_args)
        return func

    return register


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="hjson config file (see config/config.hjson)")
    p.add_argument("--region", help="AWS region (default: config 'region', then AWS_REGION)")


def _load(args: argparse.Namespace) -> tuple[Config, Clients]:
    config = load_config(args.config, args.region)
    return config, Clients(config.region)


def _whitelist_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("whitelist", help="hjson whitelist: {provisionAll: bool, tableNames: [..]}")
    _config_args(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--concurrency", type=int, default=8, help="tables worked on at once (default 8)")


def _report(results: Sequence[Result], ui: UI, verb: str, fixes: Sequence[str] = (), left: str = "") -> int:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))
    ui.line(f"{len(results)} tables {verb}: {summary or 'none'}")
    failed = [r.table for r in results if not r.ok]
    if failed and left:
        ui.line(f"{len(failed)} table(s) {left}: {', '.join(failed)}")
    for fix in dict.fromkeys(fixes):  # once each, in the order first seen
        ui.line(f"to fix: {fix}")
    return 0 if all(r.ok for r in results) else 1


def _run_tables(
    func: Callable[[str], Result], tables: list[str], concurrency: int, ui: UI, region: str, fixes: list[str]
) -> list[Result]:
    """Work on the tables with bounded concurrency, printing one progress line per table. An
    AWS failure becomes one line naming its code and what to do; `fixes` collects the longer
    how-tos for the summary."""

    def one(table: str) -> Result:
        try:
            return func(table)
        except BackupError as exc:
            if isinstance(exc, AwsError) and exc.fix:
                fixes.append(exc.fix)
            raise
        except Exception as exc:
            error = aws_error(exc, region)
            if error is None:
                raise
            if error.fix:
                fixes.append(error.fix)
            raise error from exc

    results = []
    for n, r in enumerate(run_many(one, tables, concurrency), 1):
        did = f" ({', '.join(r.actions)})" if r.actions else ""
        why = f": {r.reason}" if r.reason else ""
        ui.line(f"[{n}/{len(tables)}] {r.table}: {r.status.replace('_', ' ')}{did}{why}")
        results.append(r)
    return results


@command("provision", "protect the tables of a whitelist", _whitelist_args)
def cmd_provision(args: argparse.Namespace, ui: UI) -> int:
    whitelist = load_whitelist(args.whitelist)
    config, clients = _load(args)
    optin = OptIn.from_config(config, strict=True)
    check_bucket(clients, config)
    tables = select_tables(clients, whitelist.provision_all, whitelist.table_names)
    explicit = set(whitelist.table_names)
    provisioner = Provisioner(clients, config)

    def one(table: str) -> Result:
        if not optin.covers(table):
            # An explicitly named table the filter excludes is a failure; others are skipped.
            reason = "excluded by the opt-in filter (tableNameMatchRegex/ExcludeRegex/optInHook)"
            return Result(table, "not_protectable" if table in explicit else "excluded", reason=reason)
        return provisioner.ensure(table, dry_run=args.dry_run)

    fixes: list[str] = []
    results = _run_tables(one, tables, args.concurrency, ui, clients.region, fixes)
    if args.dry_run:
        ui.line("dry run: nothing was changed")
        return 0 if all(r.ok or r.status == "planned" for r in results) else 1
    return _report(results, ui, "provisioned", fixes, "left unprotected")


def _deprovision_args(p: argparse.ArgumentParser) -> None:
    _whitelist_args(p)
    p.add_argument("--no-wait", action="store_true", help="start draining and return; reconcile finishes")


@command("deprovision", "stop backing up the tables of a whitelist (backups stay)", _deprovision_args)
def cmd_deprovision(args: argparse.Namespace, ui: UI) -> int:
    whitelist = load_whitelist(args.whitelist)
    config, clients = _load(args)
    tables = select_tables(clients, whitelist.provision_all, whitelist.table_names)
    provisioner = Provisioner(clients, config)
    fixes: list[str] = []
    results = _run_tables(
        lambda t: provisioner.remove(t, args.dry_run, wait=not args.no_wait),
        tables,
        args.concurrency,
        ui,
        clients.region,
        fixes,
    )
    if args.dry_run:
        ui.line("dry run: nothing was changed")
        return 0
    return _report(results, ui, "deprovisioned", fixes, "not deprovisioned")


def _status_args(p: argparse.ArgumentParser) -> None:
    _config_args(p)
    p.add_argument("--json", action="store_true", help="one JSON document instead of a table")


@command("status", "show every table's protection", _status_args)
def cmd_status(args: argparse.Namespace, ui: UI) -> int:
    config, clients = _load(args)
    rows = fleet_status(clients, config)
    if args.json:
        ui.line(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        header = ("TABLE", "OPTED-IN", "STREAM", "DELIVERY", "MAPPING", "LAST BACKUP", "PROTECTED")
        data = [
            (
                r.table,
                "yes" if r.opted_in else "no",
                r.stream_view_type or "-",
                r.delivery_status or "-",
                r.mapping_state or "-",
                r.last_backup or "-",
                "yes" if r.protected else f"NO: {r.problem}" if r.opted_in else "no",
            )
            for r in rows
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *data, strict=False)]
        for row in (header, *data):
            ui.line("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip())
    unprotected = [r for r in rows if r.opted_in and not r.protected]
    return 1 if unprotected else 0


def _deploy_args(p: argparse.ArgumentParser) -> None:
    _config_args(p)
    p.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    p.add_argument("--template-out", metavar="FILE", help="also write an equivalent CloudFormation template")
    p.add_argument("--remove", action="store_true", help="remove what deploy created (the bucket and data stay)")
    p.add_argument("--force", action="store_true", help="with --remove: even while tables are still protected")


@command("deploy", "install (or update) the product in an account", _deploy_args)
def cmd_deploy(args: argparse.Namespace, ui: UI) -> int:
    from ..install.deployer import Deployer

    config, clients = _load(args)
    deployer = Deployer(clients, config)
    changes = deployer.plan_remove(args.force) if args.remove else deployer.plan()
    for warning in deployer.warnings:
        ui.line(f"warning: {warning}")
    for change in changes:
        ui.line(f"{'would ' if args.dry_run else ''}{change}")
    if not changes:
        ui.line("nothing to change")
    if not args.dry_run:
        deployer.execute(changes)
    if args.template_out and not args.remove:
        from ..install.template import write_template

        where = write_template(deployer, args.template_out, upload=not args.dry_run)
        ui.line(f"CloudFormation template written to {args.template_out} (code: {where})")
    verb = "would change" if args.dry_run else ("removed" if args.remove else "deployed")
    ui.line(f"{verb}: {len(changes)} change(s) in {clients.region}")
    return 0


def _local_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=5000, help="port of the embedded moto server (default 5000)")
    p.add_argument("--config", help="also deploy this config into the emulator")
    p.add_argument("--speedup", type=float, default=1.0, help="run schedules N times faster (60: hourly -> 1 min)")
    p.add_argument("--endpoint-url", help="attach to an emulator already running there instead of starting one")


@command("local", "run the embedded AWS and the local runtime until interrupted", _local_args)
def cmd_local(args: argparse.Namespace, ui: UI) -> int:
    import os
    import time

    from ..local import LocalRuntime
    from ..local.emulator import EmbeddedMoto

    region = os.environ.get("AWS_REGION", "us-east-1")
    moto = None if args.endpoint_url else EmbeddedMoto(args.port).start()
    if moto is None:
        # A moto server we did not start still runs its own Docker-based stream delivery,
        # which empties shards: the mappings may then miss records (see README).
        ui.line("warning: attached to an external emulator; start it with `dynamo-backup local` for full fidelity")
        env = {"AWS_ENDPOINT_URL": args.endpoint_url, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
        env.update({k: v for k, v in EmbeddedMoto.fake_credentials().items() if k not in os.environ})
    else:
        env = moto.environment(region)
    os.environ.update(env)
    ui.line(f"AWS emulator on {env['AWS_ENDPOINT_URL']}; in another shell:")
    for key, value in env.items():
        ui.line(f"  export {key}={value}")
    runtime: LocalRuntime | None = None
    try:
        if args.config:
            cmd_deploy(
                argparse.Namespace(
                    config=args.config, region=None, dry_run=False, template_out=None, remove=False, force=False
                ),
                ui,
            )
        runtime = LocalRuntime(speedup=args.speedup).start()
        ui.line("local runtime running (table events, schedules, stream mappings); Ctrl-C stops it")
        while True:
            time.sleep(3600)
    finally:
        if runtime:
            runtime.stop()
        if moto:
            moto.stop()


def _backfill_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    _config_args(p)
    p.add_argument("--segments", type=int, default=8, help="parallel scan segments (default 8)")
    p.add_argument("--max-rcu", type=float, help="read capacity units per second to spend at most")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run")
    p.add_argument("--export", action="store_true", help="use ExportTableToPointInTime (needs PITR) instead")


@command("backfill", "snapshot a protected table's current items into its backups", _backfill_args)
def cmd_backfill(args: argparse.Namespace, ui: UI) -> int:
    from ..provisioning.status import require_protected
    from ..snapshot.backfill import Backfill, export_snapshot
    from .progress import Progress

    config, clients = _load(args)
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


def _restore_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", help="the table whose backups to restore (it may no longer exist)")
    p.add_argument("--to", required=True, metavar="NEW_TABLE", help="table to restore into (created if missing)")
    _config_args(p)
    p.add_argument("--at", metavar="TIME", help="ISO-8601 or epoch seconds (default: now, the latest state)")
    p.add_argument("--into-existing", action="store_true", help="change an existing non-empty table to the state")
    p.add_argument("--dry-run", action="store_true", help="show what would be written and deleted")
    p.add_argument("--key", action="append", metavar="ATTR=VALUE", help="restore one item (repeat per key part)")
    p.add_argument("--source-region", help="region of the backups' table (default: the config's)")
    p.add_argument("--target-region", help="region to restore into (default: the source region)")
    p.add_argument("--via-import", action="store_true", help="load with DynamoDB ImportTable (new table only)")
    p.add_argument("--allow-corrupt", action="store_true", help="skip unreadable backup objects")
    p.add_argument("--from-start", action="store_true", help="no snapshot: trust the changes as full history")
    p.add_argument("--threads", type=int, default=8, help="parallel BatchWriteItem calls (default 8)")


@command("restore", "restore a table to any second into a new table", _restore_args)
def cmd_restore(args: argparse.Namespace, ui: UI) -> int:
    from ..restore.backups import BackupStore
    from ..restore.keys import parse_key_args
    from ..restore.restore import RestoreOptions, Restorer
    from ..restore.state import iso
    from .progress import Progress

    config = load_config(args.config, args.source_region or args.region)
    source = Clients(config.region)
    target = Clients(args.target_region or config.region)
    store = BackupStore(source, config)
    keys = None
    if args.key:
        keys = parse_key_args(args.key, store.sync(args.table))
    opts = RestoreOptions(
        args.at,
        args.into_existing,
        args.dry_run,
        keys,
        args.allow_corrupt,
        args.from_start,
        args.via_import,
        args.threads,
    )
    with Progress(f"restore {args.table} -> {args.to}") as bar:
        result = Restorer(target, store, progress=bar.update).restore(args.table, args.to, opts)
    earliest = iso(result.earliest) if result.earliest is not None else "unknown (no snapshot)"
    ui.line(f"earliest restorable time of {args.table}: {earliest}")
    for name in result.corrupt:
        ui.line(f"warning: corrupt backup object skipped: {name}")
    for note in result.notes:
        ui.line(f"note: {note}")
    if result.dry_run:
        ui.line(f"dry run: {result.items} items at {iso(result.at)}; would put {result.puts}, delete {result.deletes}")
        for line in result.sample:
            ui.line(f"  {line}")
        return 0
    check = "verified" if result.verified else "NOT verified"
    ui.line(
        f"restored {args.table} at {iso(result.at)} into {args.to} ({target.region}): {result.items} items, "
        f"{result.puts} written, {result.deletes} deleted, checksum {result.checksum} {check}"
    )
    return 0 if result.verified else 1


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    p.add_argument("--key", action="append", required=True, metavar="ATTR=VALUE", help="the item's key (repeat)")
    _config_args(p)


@command("history", "every version of one item, with a diff between versions", _history_args)
def cmd_history(args: argparse.Namespace, ui: UI) -> int:
    from ..explore.history import format_history, item_history
    from ..restore.backups import BackupStore
    from ..restore.keys import parse_key_args

    config, clients = _load(args)
    store = BackupStore(clients, config)
    backups = store.sync(args.table)
    versions = item_history(backups, parse_key_args(args.key, backups), store)  # no version: an error
    for line in format_history(versions):
        ui.line(line)
    return 0


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    p.add_argument("sql", help="SQL over the views changes, state and snapshots")
    _config_args(p)
    p.add_argument("--at", metavar="TIME", help="time of the `state` view (default: latest)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")


@command("query", "SQL (DuckDB) over a table's backups", _query_args)
def cmd_query(args: argparse.Namespace, ui: UI) -> int:
    import time

    from ..explore.query import open_views, render, run_query
    from ..restore.backups import BackupStore
    from ..restore.state import parse_time

    config, clients = _load(args)
    store = BackupStore(clients, config)
    backups = store.sync(args.table)
    at = parse_time(args.at, time.time()) if args.at else None
    columns, rows = run_query(open_views(backups, at, store), args.sql)
    ui.line(render(columns, rows, args.format))
    return 0


def _athena_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    _config_args(p)
    p.add_argument("--database", default="dynamodb_backups")


@command("athena-ddl", "print Athena DDL over a table's backups", _athena_args)
def cmd_athena(args: argparse.Namespace, ui: UI) -> int:
    from ..explore.athena import athena_ddl

    config = load_config(args.config, args.region)
    ui.line(athena_ddl(config, args.table, args.database))
    return 0


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("table")
    _config_args(p)
    p.add_argument("--sample", type=int, metavar="N", help="compare N sampled items instead of the whole table")


@command("verify", "check that the backups hold exactly what the live table holds", _verify_args)
def cmd_verify(args: argparse.Namespace, ui: UI) -> int:
    from ..restore.backups import BackupStore
    from ..restore.verify import Verifier

    config, clients = _load(args)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dynamo-backup", description="Continuous DynamoDB backup to S3")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of failures")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text, add_args) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        # Also after the command, so the thin scripts (deploy.py ...) take it; SUPPRESS keeps
        # the subparser's default from overwriting a --debug given before the command.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of failures")
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None, ui: UI | None = None) -> int:
    ui = ui or UI()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    package_log = logging.getLogger(__name__.partition(".")[0])  # the whole package, not only cli
    level = package_log.level
    if args.debug:  # the per-table tracebacks fleet logs at DEBUG; botocore stays quiet
        package_log.setLevel(logging.DEBUG)
    try:
        return int(args.func(args, ui))
    except BackupError as exc:
        _traceback(args, ui)
        ui.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130
    except Exception as exc:  # an AWS failure is one line with what to do; a bug keeps its traceback
        error = aws_error(exc, getattr(args, "region", None))
        if error is None:
            raise
        _traceback(args, ui)
        ui.error(str(error))
        if error.fix:
            ui.error(f"to fix: {error.fix}")
        return error.exit_code
    finally:
        package_log.setLevel(level)


def _traceback(args: argparse.Namespace, ui: UI) -> None:
    if args.debug:
        traceback.print_exc(file=ui.err)
