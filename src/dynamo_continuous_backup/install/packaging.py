"""Build the Lambda zip: this package plus the runtime dependencies Lambda lacks.

Lambda's Python runtime has boto3. We add hjson (pure Python) and orjson, a compiled wheel
fetched for Lambda's architecture with `pip download --platform`. When the wheel cannot be
fetched (offline), the package still works: records.py falls back to the stdlib json.
"""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the whole package, not only install/
LAMBDA_RUNTIME = "python3.12"
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
CACHE = Path.home() / ".cache" / "dynamo-continuous-backup" / "wheels"
DEPENDENCIES = ("orjson", "hjson")
# Fixed timestamps make the zip, and so CodeSha256, identical across builds of the same code.
EPOCH = (2020, 1, 1, 0, 0, 0)


def fetch_wheels(architecture: str = "x86_64", cache: Path = CACHE) -> list[Path]:
    """Wheels for Lambda's platform, downloaded once into `cache`."""
    target = cache / architecture
    wheels = sorted(target.glob("*.whl")) if target.exists() else []
    if {w.name.split("-")[0] for w in wheels} >= set(DEPENDENCIES):
        return wheels
    target.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--only-binary=:all:",
        "--no-deps",
        "--dest",
        str(target),
        "--platform",
        PLATFORMS[architecture],
        "--python-version",
        LAMBDA_RUNTIME.removeprefix("python"),
        *DEPENDENCIES,
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("could not download Lambda wheels (%s); the forwarder will use the slower stdlib json", exc)
    return sorted(target.glob("*.whl"))


def build_zip(wheels: list[Path] | None = None) -> bytes:
    """A deterministic zip with the package at the top level and the wheels unpacked."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(PACKAGE_DIR.rglob("*.py")):
            _add(z, f"{PACKAGE_DIR.name}/{path.relative_to(PACKAGE_DIR).as_posix()}", path.read_bytes())
        for wheel in wheels or []:
            with zipfile.ZipFile(wheel) as w:
                for name in sorted(w.namelist()):
                    if not name.endswith("/"):
                        _add(z, name, w.read(name))
    return buf.getvalue()


def _add(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, data)


def code_sha256(data: bytes) -> str:
    """The CodeSha256 Lambda reports for a zip (base64 of the SHA-256)."""
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()
