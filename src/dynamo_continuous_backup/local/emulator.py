"""The embedded AWS: moto server in this process, adjusted where moto differs from AWS in a
way that matters here (each adjustment says why).

moto delivers stream records to mapped functions itself by running them in Docker, and on
"success" it empties the shard, which breaks sequence numbers. The local runtime delivers
records with our own poller instead, so that path is disabled here.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from typing import Any

from ..core.errors import UserInputError
from . import moto_dynamodb, moto_imports, moto_services
from .firehose_partitioning import emulate_dynamic_partitioning

log = logging.getLogger(__name__)

# Set in the environment of everything pointed at the embedded AWS: commands that need what it
# cannot do (Athena runs no SQL there) refuse instead of reporting an empty success.
EMULATOR_MARK = "DCB_EMULATOR"
FAKE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def bind(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:`port`; UserInputError when another program holds the port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug: a just-closed server's port is free
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserInputError(f"port {port} is already in use (another `dynamo-backup local`?)") from None
        raise
    return sock


def _dispatcher(base: Any, create_app: Any) -> Any:
    """moto's request dispatcher, remembering which backend serves a host: moto's lists its own
    package folder (a stat per service) and tries every service's URL patterns on each request,
    holding one lock for all of them."""

    class RememberingDispatcher(base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(create_app)
            self._backends: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            # Called under the dispatcher's lock. Hosts are few (service.region names), but bound it.
            if host not in self._backends:
                if len(self._backends) > 1024:
                    self._backends.clear()
                self._backends[host] = super().get_backend_for_host(host)
            return self._backends[host]

    return RememberingDispatcher()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedMoto:
    """moto server on 127.0.0.1:`port` running in a background thread of this process."""

    def __init__(self, port: int | None = None) -> None:
        moto_dynamodb.apply()
        # moto ignores dynamic partitioning (local/firehose_partitioning.py); installed first, so
        # moto_services' delivery metrics wrap partitioned deliveries too
        emulate_dynamic_partitioning()
        moto_services.apply()
        moto_imports.patch()
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmbeddedMoto:
        """Listen, then serve in a daemon thread. A port in use raises UserInputError here:
        moto's ThreadedMotoServer binds inside its thread, where the failure left start() waiting forever."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        # An action moto lacks answers the client 500, which the client reports as an AWS error;
        # werkzeug's traceback of it on stderr would only be noise beside that.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        listening = bind(self.port)
        try:
            self._server = make_server(
                "127.0.0.1",
                self.port,
                _dispatcher(DomainDispatcherApplication, create_backend_app),
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listening.fileno(),  # werkzeug serves a duplicate of it
            )
        finally:
            listening.close()
        self._thread = threading.Thread(target=self._server.serve_forever, name="dcb-moto-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    @staticmethod
    def fake_credentials() -> dict[str, str]:
        return dict(FAKE_ENV)

    def environment(self, region: str = "us-east-1") -> dict[str, str]:
        """What a shell must export to point every boto3 session at this endpoint."""
        return {
            **FAKE_ENV,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            EMULATOR_MARK: "1",
        }

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()
        moto_dynamodb.forget_deleted_streams()


def export(env: dict[str, str]) -> None:
    os.environ.update(env)
