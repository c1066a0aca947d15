"""The Lambda zip deploy uploads: deterministic, the whole package at the top level plus the
unpacked wheels, nothing else; and the wheels are fetched for Lambda's platform, once."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.install import packaging

PACKAGE = packaging.PACKAGE_DIR.name


def fake_wheel(folder: Path, name: str) -> Path:
    """A wheel as pip downloads it: a zip with the module, its dist-info and directory entries."""
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/", b"")
        z.writestr(f"{name}/__init__.py", f"NAME = {name!r}\n")
        z.writestr(f"{name}-1.0.dist-info/METADATA", f"Name: {name}\n")
    return path


def names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.namelist()


def test_the_zip_is_the_same_bytes_every_time(tmp_path: Path) -> None:
    wheels = [fake_wheel(tmp_path, "fakejson"), fake_wheel(tmp_path, "fakehjson")]
    assert packaging.build_zip(wheels) == packaging.build_zip(wheels)
    assert packaging.build_zip([]) == packaging.build_zip(None)
    # and across days and checkouts: every entry carries one fixed time, not the build's or the file's
    with zipfile.ZipFile(io.BytesIO(packaging.build_zip(wheels))) as z:
        times = {info.date_time for info in z.infolist()}
    assert len(times) == 1 and next(iter(times))[:3] != time.localtime()[:3]


def test_the_zip_holds_the_whole_package_at_the_top_level_and_nothing_else() -> None:
    listed = names(packaging.build_zip([]))
    root = packaging.PACKAGE_DIR
    assert sorted(listed) == sorted(f"{PACKAGE}/{p.relative_to(root).as_posix()}" for p in root.rglob("*.py"))
    subpackages = {p.parent.name for p in root.glob("*/__init__.py")}
    assert subpackages >= {"core", "capture", "snapshot", "provisioning", "install", "restore", "explore", "local"}
    for sub in subpackages:
        assert f"{PACKAGE}/{sub}/__init__.py" in listed, sub
    assert {f"{PACKAGE}/__init__.py", f"{PACKAGE}/forwarder.py", f"{PACKAGE}/ensure_backup.py"} <= set(listed)
    assert not [n for n in listed if "__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/")]


def test_caches_beside_the_sources_stay_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / PACKAGE
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"\x00")
    (package / "stale.pyc").write_bytes(b"\x00")
    monkeypatch.setattr(packaging, "PACKAGE_DIR", package)
    assert names(packaging.build_zip([])) == [f"{PACKAGE}/__init__.py"]


def test_the_wheels_are_unpacked_at_the_top_level(tmp_path: Path) -> None:
    listed = names(packaging.build_zip([fake_wheel(tmp_path, "fakejson")]))
    assert {"fakejson/__init__.py", "fakejson-1.0.dist-info/METADATA"} <= set(listed)
    assert "fakejson/" not in listed  # no directory entries


def test_code_sha256_is_what_lambda_reports() -> None:
    data = packaging.build_zip([])
    assert packaging.code_sha256(data) == base64.b64encode(hashlib.sha256(data).digest()).decode()


class FakePip:
    """`subprocess` as fetch_wheels uses it, whose pip 'downloads' a wheel per package named."""

    SubprocessError = subprocess.SubprocessError

    def __init__(self, fails: bool = False) -> None:
        self.commands: list[list[str]] = []
        self.fails = fails

    def run(self, cmd: list[str], **_: Any) -> None:
        self.commands.append(cmd)
        if self.fails:
            raise subprocess.CalledProcessError(1, cmd, stderr=b"no network")
        dest = Path(cmd[cmd.index("--dest") + 1])
        for name in cmd[cmd.index("--python-version") + 2 :]:
            fake_wheel(dest, name)


@pytest.mark.parametrize(
    ("architecture", "platform"), [("x86_64", "manylinux2014_x86_64"), ("arm64", "manylinux2014_aarch64")]
)
def test_wheels_are_fetched_for_lambdas_platform_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, architecture: str, platform: str
) -> None:
    pip = FakePip()
    monkeypatch.setattr(packaging, "subprocess", pip)  # the one test that may run "pip"
    wheels = packaging.fetch_wheels(architecture, cache=tmp_path)
    assert [w.name.split("-")[0] for w in wheels] == ["hjson", "orjson"]
    [cmd] = pip.commands
    assert cmd[cmd.index("--platform") + 1] == platform and cmd[cmd.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in cmd and "--no-deps" in cmd
    # a second deploy finds them in the cache and runs no pip
    assert packaging.fetch_wheels(architecture, cache=tmp_path) == wheels and len(pip.commands) == 1


def test_offline_the_zip_is_built_without_wheels_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(packaging, "subprocess", FakePip(fails=True))
    with caplog.at_level(logging.WARNING):
        assert packaging.fetch_wheels(cache=tmp_path) == []
    assert "stdlib json" in caplog.text


def test_no_other_test_runs_pip(tmp_path: Path) -> None:
    # the guard of tests/conftest.py: fetch_wheels with an empty cache fails the test loudly
    with pytest.raises(pytest.fail.Exception, match="pip download"):
        packaging.fetch_wheels(cache=tmp_path)
