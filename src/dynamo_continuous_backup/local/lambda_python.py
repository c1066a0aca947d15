"""The Python the local runtime runs functions with: Lambda's Python 3.12 with boto3 and nothing
else, so code that imports a package the deployed zip lacks fails here as it would in AWS.

Found as `DCB_LAMBDA_PYTHON`, else a virtual environment made once under the user cache from a
Python 3.12 interpreter (on PATH or under pyenv) with only boto3 installed.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from ..core.errors import BackupError

log = logging.getLogger(__name__)

LAMBDA_VERSION = "3.12"
ENV_PYTHON = "DCB_LAMBDA_PYTHON"
ENV_DIR = Path.home() / ".cache" / "dynamo-continuous-backup" / f"lambda-python{LAMBDA_VERSION}"


class LambdaPythonError(BackupError):
    """No Python 3.12 to run functions with, or its environment could not be made."""


def _runs(python: str) -> bool:
    try:
        out = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == b"(3, 12)"


def _pyenv_root() -> str:
    try:
        answer = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return answer.stdout.strip() if answer.returncode == 0 else ""


def find_interpreter() -> str:
    """A Python 3.12 interpreter: on PATH, else under pyenv's versions."""
    candidates = [shutil.which(f"python{LAMBDA_VERSION}") or ""]
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv"), _pyenv_root()]
    for root in dict.fromkeys(r for r in roots if r):
        candidates += sorted(glob.glob(f"{root}/versions/{LAMBDA_VERSION}*/bin/python{LAMBDA_VERSION}"), reverse=True)
    for python in candidates:
        if python and _runs(python):
            return python
    raise LambdaPythonError(
        f"no Python {LAMBDA_VERSION} found (Lambda's runtime, needed by the local runtime): install it, "
        f"e.g. `pyenv install {LAMBDA_VERSION}`, or set {ENV_PYTHON} to a python{LAMBDA_VERSION} that has boto3"
    )


def lambda_python(env_dir: Path = ENV_DIR) -> str:
    """Path of the Python 3.12 that runs functions, creating its environment the first time."""
    given = os.environ.get(ENV_PYTHON)
    if given:
        return given
    python = env_dir / "bin" / "python"
    stamp = env_dir / ".ready"
    if stamp.exists() and python.exists():
        return str(python)
    log.info("creating the Lambda Python %s environment (boto3 only) in %s, once", LAMBDA_VERSION, env_dir)
    base = find_interpreter()
    shutil.rmtree(env_dir, ignore_errors=True)
    try:
        subprocess.run([base, "-m", "venv", str(env_dir)], check=True, capture_output=True, timeout=300)
        # The same boto3 as ours: the handlers see the API surface they were tested with.
        pins = [f"{name}=={metadata.version(name)}" for name in ("boto3", "botocore")]
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise LambdaPythonError(f"could not create the Lambda Python environment in {env_dir}: {detail[0]}") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise LambdaPythonError(f"could not create the Lambda Python environment in {env_dir}: {exc}") from None
    stamp.write_text("boto3 only\n")
    return str(python)
