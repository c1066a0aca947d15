"""Unit tests are pure: in-memory fakes only, no moto server and no subprocess, so that
`pytest tests/unit` is fast and starts nothing. A test that needs either belongs in tests/integration."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail, before its fixtures start anything, a unit test that asks for the moto server
    (directly, or through `aws`, `config`, `deployed`, ...)."""
    if "moto_server" in getattr(item, "fixturenames", ()):
        pytest.fail(f"{item.nodeid} is a unit test but uses the moto server: move it to tests/integration")


@pytest.fixture(scope="session")
def moto_server() -> None:
    """Stands in for the server of tests/conftest.py, for a unit test asking for it at run time."""
    pytest.fail("a unit test asked for the moto server: move it to tests/integration")


@pytest.fixture(autouse=True)
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a process fails a unit test (the Lambda Python, a CLI script, the benchmarks...)."""

    def refuse(self: Any, args: Any, *_: Any, **__: Any) -> None:
        pytest.fail(f"a unit test started a process ({args!r}): move it to tests/integration", pytrace=False)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
