"""The embedded AWS: moto server in this process, adjusted where moto differs from AWS in a
way that matters here (each adjustment says why).

moto delivers stream records to mapped functions itself by running them in Docker, and on
"success" it empties the shard, which breaks sequence numbers. The local runtime delivers
records with our own poller instead, so that path is disabled here.
"""

from __future__ import annotations

import logging
import os
import socket

from . import moto_dynamodb, moto_imports, moto_services
from .firehose_partitioning import emulate_dynamic_partitioning

log = logging.getLogger(__name__)

# Set in the environment of everything pointed at the embedded AWS: commands that need what it
# cannot do (Athena runs no SQL there) refuse instead of reporting an empty success.
EMULATOR_MARK = "DCB_EMULATOR"
FAKE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedMoto:
    """moto server on 127.0.0.1:`port` running in a background thread of this process."""

    def __init__(self, port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        moto_dynamodb.apply()
        # moto ignores dynamic partitioning (local/firehose_partitioning.py); installed first, so
        # moto_services' delivery metrics wrap partitioned deliveries too
        emulate_dynamic_partitioning()
        moto_services.apply()
        moto_imports.patch()
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> EmbeddedMoto:
        # An action moto lacks answers the client 500, which the client reports as an AWS error;
        # werkzeug's traceback of it on stderr would only be noise beside that.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

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
