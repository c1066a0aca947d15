"""What every command shares: the `UI` printer, the command registry, the common arguments,
and the per-table progress and summary lines of the fleet commands."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TextIO

from ..core.aws import Clients
from ..core.config import Config, load_config
from ..core.errors import AwsError
from ..provisioning.fleet import run_many
from ..provisioning.provisioner import Result

# The one exit rule of every --dry-run (deploy, provision, deprovision), in each one's --help.
DRY_RUN_HELP = (
    "print the plan, change nothing; exit 0 if it can be applied (with or without changes), "
    "1 if some table or resource cannot be (not protectable, missing, failed)"
)


class UI:
    """The one place CLI output goes; tests pass their own streams. Whole lines, even when the
    tables of a fleet command print from several threads."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._lock = threading.Lock()

    def line(self, text: str = "") -> None:
        self._write(self.out, text)

    def error(self, text: str) -> None:
        self._write(self.err, f"error: {text}")

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            stream.write(text + "\n")
            stream.flush()


Command = Callable[[argparse.Namespace, UI], int]
COMMANDS: dict[str, tuple[Command, str, Callable[[argparse.ArgumentParser], None]]] = {}


def command(
    name: str, help_text: str, add_args: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        COMMANDS[name] = (func, help_text, add_args)
        return func

    return register


def config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="hjson config file (see config/config.hjson)")
    p.add_argument("--region", help="AWS region (default: config 'region', then AWS_REGION)")


def load(args: argparse.Namespace) -> tuple[Config, Clients]:
    config = load_config(args.config, args.region)
    return config, Clients(config.region)


def whitelist_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("whitelist", help="hjson whitelist: {provisionAll: bool, tableNames: [..]}")
    config_args(p)
    p.add_argument("--dry-run", action="store_true", help=DRY_RUN_HELP)
    p.add_argument("--concurrency", type=int, default=8, help="tables worked on at once (default 8)")


def report(results: Sequence[Result], ui: UI, verb: str, fixes: Sequence[str] = (), left: str = "") -> int:
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


def dry_run_exit(results: Sequence[Result], ui: UI) -> int:
    """The exit code of a fleet command's dry run (DRY_RUN_HELP)."""
    ui.line("dry run: nothing was changed")
    return 0 if all(r.can_apply for r in results) else 1


def run_tables(
    func: Callable[[str], Result], tables: list[str], concurrency: int, ui: UI, fixes: list[str]
) -> list[Result]:
    """Work on the tables with bounded concurrency, printing one progress line per table. An
    AWS failure (typed by the facade) becomes one line naming its code and what to do; `fixes`
    collects the longer how-tos for the summary."""

    def one(table: str) -> Result:
        try:
            return func(table)
        except AwsError as exc:
            if exc.fix:
                fixes.append(exc.fix)
            raise

    results = []
    for n, r in enumerate(run_many(one, tables, concurrency), 1):
        did = f" ({', '.join(r.actions)})" if r.actions else ""
        why = f": {r.reason}" if r.reason else ""
        ui.line(f"[{n}/{len(tables)}] {r.table}: {r.status.replace('_', ' ')}{did}{why}")
        results.append(r)
    return results
