"""Warm worker processes that run a deployed function as Lambda does: its zip (fetched from the
function's Code.Location) unpacked as the only code on sys.path, in Lambda's Python 3.12 with
boto3 only, with the function's environment, and its timeout enforced by killing the worker.

Workers stay warm between invocations, like Lambda's execution environments, keyed by the
code's hash and the environment, so a redeploy or a config change starts fresh ones.
"""

from __future__ import annotations

import atexit
import base64
import io
import json
import logging
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..core.errors import BackupError
from .lambda_python import lambda_python

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
CODE_CACHE = Path.home() / ".cache" / "dynamo-continuous-backup" / "lambda-code"
INIT_SECONDS = 10.0  # Lambda's init phase limit: a cold worker gets this on top of the timeout
# Passed through from the runtime's own environment, as Lambda provides credentials and region.
PASSTHROUGH = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")
END = "END RequestId: "  # lambda_bootstrap.py writes it after an invocation's output
OUTPUT_GRACE = 1.0  # seconds an answered invocation waits for the rest of its output to be read

Output = Callable[[str], None]  # receives each line of a function's output (what CloudWatch Logs gets)


class FunctionError(BackupError):
    """An invocation failed: the handler raised, its module did not import, or it timed out."""

    def __init__(self, function: str, kind: str, message: str) -> None:
        super().__init__(f"{function}: {kind}: {message}")
        self.kind = kind


@dataclass(frozen=True)
class FunctionSpec:
    """What a worker needs to run one function version."""

    name: str
    arn: str
    handler: str
    timeout: float
    memory: int
    code_sha256: str
    code_dir: str
    variables: tuple[tuple[str, str], ...]
    region: str

    @classmethod
    def from_get_function(cls, answer: dict[str, Any], region: str) -> FunctionSpec:
        conf = answer["Configuration"]
        location = (answer.get("Code") or {}).get("Location")
        if not location:
            raise BackupError(f"function {conf['FunctionName']} has no downloadable code (Code.Location)")
        return cls(
            name=conf["FunctionName"],
            arn=conf["FunctionArn"],
            handler=conf["Handler"],
            timeout=float(conf.get("Timeout", 3)),
            memory=int(conf.get("MemorySize", 128)),
            code_sha256=conf["CodeSha256"],
            code_dir=str(unpacked_code(location, conf["CodeSha256"])),
            variables=tuple(sorted((conf.get("Environment") or {}).get("Variables", {}).items())),
            region=region,
        )

    def environment(self) -> dict[str, str]:
        """Lambda's reserved variables, the caller's credentials and endpoint, the function's own."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(self.timeout)),
            "LAMBDA_TASK_ROOT": self.code_dir,
            # Never the developer's profiles: Lambda has none.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        env.update({k: os.environ[k] for k in PASSTHROUGH if k in os.environ})
        env.update(dict(self.variables))
        return env


def unpacked_code(location: str, sha256: str, cache: Path = CODE_CACHE) -> Path:
    """The function's zip, downloaded from its Code.Location and unpacked once per code hash."""
    target = cache / base64.urlsafe_b64encode(base64.b64decode(sha256)).decode().rstrip("=")
    if target.is_dir():
        return target
    with urllib.request.urlopen(location, timeout=60) as answer:  # noqa: S310 - the function's own code URL
        data = answer.read()
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=".unpacking-"))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        z.extractall(staging)
    try:
        staging.rename(target)  # atomic: a concurrent unpack of the same code wins or loses whole
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class Worker:
    """One warm execution environment of one function version."""

    def __init__(self, spec: FunctionSpec, python: str) -> None:
        self.spec = spec
        self.proc = subprocess.Popen(
            [python, "-I", str(BOOTSTRAP), spec.code_dir, spec.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=spec.environment(),
            cwd=spec.code_dir,
        )
        self.cold = True
        self.output: Output | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._ended: queue.Queue[str] = queue.Queue()
        self._logger = logging.getLogger(f"{__name__}.{spec.name}")
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._log, args=(self.proc.stderr,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._replies.put(line.decode())
        self._replies.put(None)  # the process ended

    def _log(self, stream: IO[bytes]) -> None:
        for raw in stream:  # what Lambda would send to CloudWatch Logs
            line = raw.decode(errors="replace").rstrip()
            if line.startswith(END):
                self._ended.put(line[len(END) :])
                continue
            self._logger.info("%s", line)
            output = self.output
            if output is not None:
                try:
                    output(line)
                except Exception:  # the pipe must still be read, or the function would block on it
                    log.exception("%s: output handler failed", self.spec.name)

    def _output_read(self, request_id: str) -> None:
        """Wait (briefly) until the invocation's output was handed on, so its metrics are known
        when the invocation returns, as Lambda's logs end with END before the next request."""
        while True:
            try:
                if self._ended.get(timeout=OUTPUT_GRACE) == request_id:
                    return
            except queue.Empty:
                log.debug("%s: output of %s not complete after %ss", self.spec.name, request_id, OUTPUT_GRACE)
                return

    def invoke(self, event: dict[str, Any]) -> Any:
        request_id = str(uuid.uuid4())
        request = {
            "event": event,
            "timeout_ms": int(self.spec.timeout * 1000),
            "request_id": request_id,
            "function_arn": self.spec.arn,
        }
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            raise FunctionError(self.spec.name, "Runtime.ExitError", "the execution environment ended") from None
        wait = self.spec.timeout + 0.5 + (INIT_SECONDS if self.cold else 0.0)
        self.cold = False
        try:
            line = self._replies.get(timeout=wait)
        except queue.Empty:
            self.kill()
            raise FunctionError(
                self.spec.name, "Sandbox.Timedout", f"Task timed out after {self.spec.timeout:.2f} seconds"
            ) from None
        if line is None:
            self.kill()
            raise FunctionError(self.spec.name, "Runtime.ExitError", f"exited with code {self.proc.wait()}")
        self._output_read(request_id)
        reply = json.loads(line)
        if not reply["ok"]:
            raise FunctionError(self.spec.name, reply["errorType"], reply["errorMessage"])
        return reply["result"]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class WorkerPool:
    """Idle warm workers per function version; as many run at once as invocations do."""

    def __init__(self) -> None:
        self._idle: dict[FunctionSpec, list[Worker]] = {}
        self._lock = threading.Lock()
        self._python: str | None = None

    def invoke(self, spec: FunctionSpec, event: dict[str, Any], output: Output | None = None) -> Any:
        """Run `event` in a warm worker; each line of the function's output also goes to `output`."""
        worker = self._take(spec)
        worker.output = output
        try:
            result = worker.invoke(event)
        except FunctionError:
            if worker.alive:
                self._give_back(worker)
            raise
        self._give_back(worker)
        return result

    def _take(self, spec: FunctionSpec) -> Worker:
        with self._lock:
            # A redeploy or a new configuration retires the old version's environments.
            for old in [s for s in self._idle if s.name == spec.name and s != spec]:
                for w in self._idle.pop(old):
                    w.kill()
            idle = self._idle.setdefault(spec, [])
            while idle:
                worker = idle.pop()
                if worker.alive:
                    return worker
            if self._python is None:
                self._python = lambda_python()
            python = self._python
        return Worker(spec, python)

    def _give_back(self, worker: Worker) -> None:
        with self._lock:
            self._idle.setdefault(worker.spec, []).append(worker)

    def close(self) -> None:
        with self._lock:
            workers = [w for ws in self._idle.values() for w in ws]
            self._idle.clear()
        for w in workers:
            w.kill()


POOL = WorkerPool()
atexit.register(POOL.close)
