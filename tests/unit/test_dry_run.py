"""--dry-run's printing executor: one line per step naming its action, never its data; and the
one exit rule every dry run states (what each command's dry run does: tests/integration/test_dry_run.py)."""

from __future__ import annotations

import io
import threading
import time
from dataclasses import fields
from typing import Any, get_args

import pytest

from dynamo_continuous_backup.cli.base import DRY_RUN_HELP, UI
from dynamo_continuous_backup.cli.main import main
from dynamo_continuous_backup.install.steps import CreateFunction, DeployStep, PutTarget
from dynamo_continuous_backup.provisioning.steps import (
    CreateMapping,
    EnableStream,
    MarkDraining,
    PrintingExecutor,
    SaveSchema,
    Step,
    TableStep,
)

SECRET = "s3cr3t-4111111111111111"


def sample(kind: type[Step]) -> Step:
    """A step of that kind whose dict fields (policies, settings, environments) hold a secret."""
    values: dict[str, Any] = {}
    for f in fields(kind):  # type: ignore[arg-type]
        kind_of = str(f.type)
        values[f.name] = (
            {"Variables": {"DCB_CONFIG": SECRET}}
            if "dict" in kind_of
            else ("u1", "u2")
            if "tuple" in kind_of
            else 1.5
            if kind_of == "float"
            else f"{f.name}-x"
        )
    return kind(**values)


def test_every_step_kind_is_one_line_naming_its_action_and_never_its_data() -> None:
    kinds = [*get_args(TableStep), *get_args(DeployStep)]
    assert len(kinds) == len({k.action for k in kinds}) == 35
    for kind in kinds:
        line = str(sample(kind))
        assert line.startswith(kind.action.replace("_", " ") + ": "), line
        assert "\n" not in line and SECRET not in line and "{" not in line, line


def test_the_printing_executor_prints_each_step_and_changes_nothing() -> None:
    out = io.StringIO()
    printer = PrintingExecutor(UI(out, out))
    steps: list[Step] = [
        EnableStream("orders", "NEW_AND_OLD_IMAGES"),
        CreateMapping("orders", None),
        MarkDraining("old", "old", 100.0),
        SaveSchema("orders"),
        CreateFunction("dynamo-backup-forwarder", {"Environment": {"Variables": {"DCB_CONFIG": SECRET}}}),
        PutTarget("dynamo-backup-reconcile", "arn:aws:lambda:us-east-1:1:function:dynamo-backup-ensure"),
    ]
    assert all(printer.apply(step) for step in steps) and printer.dry_run
    assert out.getvalue().splitlines() == [
        "would enable stream: table orders (NEW_AND_OLD_IMAGES)",
        "would create mapping: the new stream of table orders to the forwarder",
        "would mark draining: delivery stream old of table old",
        "would save schema: table orders (if it changed)",
        "would create function: dynamo-backup-forwarder",
        "would put target: dynamo-backup-reconcile",
    ]


class Trickle(io.StringIO):
    """A stream that lets other threads run in the middle of every write."""

    def write(self, text: str) -> int:
        for char in text:
            super().write(char)
            time.sleep(0)
        return len(text)


def test_lines_printed_from_many_threads_stay_whole() -> None:
    out = Trickle()
    ui = UI(out, out)
    written = [f"would create delivery stream: t{n} for table t{n}" for n in range(8)]
    threads = [threading.Thread(target=lambda t=text: [ui.line(t) for _ in range(20)]) for text in written]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(out.getvalue().splitlines())) == sorted(written)


def test_every_dry_run_states_the_one_exit_rule(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("deploy", "provision", "deprovision"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert DRY_RUN_HELP in " ".join(capsys.readouterr().out.split()), command
