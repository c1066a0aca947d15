"""`dynamo-backup` entry point: parse the arguments, run the command, turn a BackupError into
one line on stderr and its exit code (a traceback only with --debug)."""

from __future__ import annotations

import argparse
import logging
import traceback
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from .. import __version__
from ..core.aws import translate
from ..core.errors import AwsError, BackupError
from . import cost, explore, install, jobs, protect, restoring  # noqa: F401 - importing registers the commands
from .base import COMMANDS, UI


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
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130
    except (BackupError, ClientError, BotoCoreError) as exc:  # a bug keeps its traceback
        # Clients from the facade already raise typed errors; botocore's own (a client made
        # elsewhere, credentials) get the same one line here.
        error = translate(exc, getattr(args, "region", None))
        _traceback(args, ui)
        ui.error(str(error))
        if isinstance(error, AwsError) and error.fix:
            ui.error(f"to fix: {error.fix}")
        return error.exit_code
    finally:
        package_log.setLevel(level)


def _traceback(args: argparse.Namespace, ui: UI) -> None:
    if args.debug:
        traceback.print_exc(file=ui.err)
