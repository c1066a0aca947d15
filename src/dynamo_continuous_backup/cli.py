"""`dynamo-backup` command line. Commands are thin: call the library, print through `UI`,
turn a BackupError into one line on stderr and a non-zero exit code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from . import __version__
from .aws import Clients
from .config import Config, load_config
from .errors import BackupError
from .fleet import run_many, select_tables
from .optin import OptIn
from .provisioner import Provisioner, Result
from .status import fleet_status
from .whitelist import load_whitelist


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


def _report(results: Sequence[Result], ui: UI, verb: str) -> int:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))
    ui.line(f"{len(results)} tables {verb}: {summary or 'none'}")
    return 0 if all(r.ok for r in results) else 1


def _print_result(ui: UI, n: int, total: int, r: Result) -> None:
    did = f" ({', '.join(r.actions)})" if r.actions else ""
    why = f": {r.reason}" if r.reason else ""
    ui.line(f"[{n}/{total}] {r.table}: {r.status.replace('_', ' ')}{did}{why}")


@command("provision", "protect the tables of a whitelist", _whitelist_args)
def cmd_provision(args: argparse.Namespace, ui: UI) -> int:
    whitelist = load_whitelist(args.whitelist)
    config, clients = _load(args)
    optin = OptIn.from_config(config, strict=True)
    tables = select_tables(clients, whitelist.provision_all, whitelist.table_names)
    explicit = set(whitelist.table_names)
    provisioner = Provisioner(clients, config)

    def one(table: str) -> Result:
        if not optin.covers(table):
            # An explicitly named table the filter excludes is a failure; others are skipped.
            reason = "excluded by the opt-in filter (tableNameMatchRegex/ExcludeRegex/optInHook)"
            return Result(table, "not_protectable" if table in explicit else "excluded", reason=reason)
        return provisioner.ensure(table, dry_run=args.dry_run)

    results = []
    for n, r in enumerate(run_many(one, tables, args.concurrency), 1):
        if args.dry_run and r.status == "protected":
            r = Result(r.table, "protected" if not r.actions[:-1] else "planned", r.actions, r.reason)
        _print_result(ui, n, len(tables), r)
        results.append(r)
    if args.dry_run:
        ui.line("dry run: nothing was changed")
        return 0 if all(r.ok or r.status == "planned" for r in results) else 1
    return _report(results, ui, "provisioned")


def _deprovision_args(p: argparse.ArgumentParser) -> None:
    _whitelist_args(p)
    p.add_argument("--no-wait", action="store_true", help="start draining and return; reconcile finishes")


@command("deprovision", "stop backing up the tables of a whitelist (backups stay)", _deprovision_args)
def cmd_deprovision(args: argparse.Namespace, ui: UI) -> int:
    whitelist = load_whitelist(args.whitelist)
    config, clients = _load(args)
    tables = select_tables(clients, whitelist.provision_all, whitelist.table_names)
    provisioner = Provisioner(clients, config)
    results = []
    for n, r in enumerate(
        run_many(lambda t: provisioner.remove(t, args.dry_run, wait=not args.no_wait), tables, args.concurrency), 1
    ):
        _print_result(ui, n, len(tables), r)
        results.append(r)
    if args.dry_run:
        ui.line("dry run: nothing was changed")
        return 0
    return _report(results, ui, "deprovisioned")


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
    from .deployer import Deployer

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
        from .template import write_template

        where = write_template(deployer, args.template_out, upload=not args.dry_run)
        ui.line(f"CloudFormation template written to {args.template_out} (code: {where})")
    verb = "would change" if args.dry_run else ("removed" if args.remove else "deployed")
    ui.line(f"{verb}: {len(changes)} change(s) in {clients.region}")
    return 0


def _local_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=5000, help="port of the embedded moto server (default 5000)")
    p.add_argument("--config", help="also deploy this config into the emulator")
    p.add_argument("--speedup", type=float, default=1.0, help="run schedules N times faster (60: hourly -> 1 min)")


@command("local", "run the embedded AWS and the local runtime until interrupted", _local_args)
def cmd_local(args: argparse.Namespace, ui: UI) -> int:
    import os
    import time

    from .emulator import EmbeddedMoto
    from .local import LocalRuntime

    moto = EmbeddedMoto(args.port).start()
    env = moto.environment(os.environ.get("AWS_REGION", "us-east-1"))
    os.environ.update(env)
    ui.line(f"embedded AWS on {moto.endpoint}; in another shell:")
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
        moto.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dynamo-backup", description="Continuous DynamoDB backup to S3")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text, add_args) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None, ui: UI | None = None) -> int:
    ui = ui or UI()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args, ui))
    except BackupError as exc:
        ui.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130
    except Exception as exc:  # an AWS failure the user must see, without a traceback
        from .aws import error_code

        code = error_code(exc)
        if not code and not _is_aws(exc):
            raise
        ui.error(f"{code or type(exc).__name__}: {exc}")
        return 1


def _is_aws(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError

    return isinstance(exc, BotoCoreError)
