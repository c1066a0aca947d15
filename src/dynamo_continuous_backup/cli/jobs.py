"""`dynamo-backup jobs [TABLE]` and `dynamo-backup jobs cancel ID`."""

from __future__ import annotations

import argparse
import json
import math
import re
import time

from ..core.aws import Clients
from ..core.errors import AwsNotFoundError, UserInputError
from ..operations.cancel import cancel
from ..operations.jobs import iso, newest_first
from ..operations.observe import LIMIT, JobObserver
from .base import UI, command, config_args, load

MAX_SINCE_DAYS = 36_500  # a century: older runs than that cannot exist


def _jobs_args(p: argparse.ArgumentParser) -> None:
    # One optional word (TABLE) or two (cancel ID): `jobs cancel` alone lists a table named cancel.
    p.add_argument("words", nargs="*", metavar="TABLE | cancel ID", help="list one table's jobs, or cancel job ID")
    config_args(p)
    p.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    p.add_argument("--since", type=float, default=7.0, metavar="DAYS", help="jobs started in the last DAYS (7)")
    p.add_argument("--limit", type=int, default=LIMIT, help=f"newest jobs shown, per source read (default {LIMIT})")


@command("jobs", "list backfills, exports, checkpoints, imports and Athena queries; `jobs cancel ID`", _jobs_args)
def cmd_jobs(args: argparse.Namespace, ui: UI) -> int:
    words = list(args.words)
    if len(words) > 2 or (len(words) == 2 and words[0] != "cancel"):
        raise UserInputError("usage: dynamo-backup jobs [TABLE] --config C, or dynamo-backup jobs cancel ID --config C")
    if args.limit < 1:
        raise UserInputError(f"--limit must be a whole number >= 1, got {args.limit}")
    if not (math.isfinite(args.since) and 0 < args.since <= MAX_SINCE_DAYS):  # nan, inf, 1e308: no start time
        raise UserInputError(f"--since must be a number of days > 0 and at most {MAX_SINCE_DAYS:,}, got {args.since:g}")
    config, clients = load(args)
    observer = JobObserver(clients, config, limit=args.limit)
    if len(words) == 2:
        ui.line(cancel(observer, words[1]))
        return 0
    if words and not _known(observer, clients, words[0]):  # a typo'd name would list nothing, "successfully"
        hint = " (to cancel a job: jobs cancel ID)" if words[0] == "cancel" else ""
        raise UserInputError(
            f"no table {words[0]} and no backup runs of it; check the name, or omit TABLE to list every "
            f"table's jobs{hint}"
        )
    jobs = newest_first(observer.jobs(words[0] if words else None, time.time() - args.since * 86400), args.limit)
    if args.json:
        ui.line(json.dumps({"jobs": [j.as_dict() for j in jobs], "notes": observer.notes}, indent=2))
    else:
        header = ("ID", "KIND", "TABLE", "STATE", "PROGRESS", "STARTED", "ENDED", "NOTE")
        rows = [
            (
                j.id,
                j.kind,
                j.table,
                j.state,
                j.progress.text(),
                iso(j.started) or "-",
                iso(j.ended) or "-",
                "; ".join(x for x in (j.detail, f"`{j.resume}`" if j.resume and j.state != "running" else "") if x),
            )
            for j in jobs
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
        for row in (header, *rows):
            ui.line("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip())
        for note in observer.notes:
            ui.line(f"note: {note}")
    return 1 if observer.notes else 0


def _known(observer: JobObserver, clients: Clients, table: str) -> bool:
    """Whether `table` has a folder of runs (every protected table has its base there) or exists."""
    if table in observer.tables():
        return True
    if not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", table):  # no DynamoDB table has this name
        return False
    try:
        clients.dynamodb.describe_table(TableName=table)
    except AwsNotFoundError:
        return False
    return True
