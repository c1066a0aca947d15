"""The embedded AWS: moto server in this process, with moto's own Lambda delivery turned off.

moto delivers stream records to mapped functions itself by running them in Docker, and on
"success" it empties the shard, which breaks sequence numbers. The local runtime delivers
records with our own poller instead, so that path is disabled here.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

log = logging.getLogger(__name__)

FAKE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def _disable_moto_lambda_delivery() -> None:
    from moto.awslambda.models import LambdaBackend

    def keep_records(self: Any, function_arn: str, items: list[Any], source: str) -> str:
        return ""  # falsy: moto keeps the shard's records for our poller

    LambdaBackend.send_dynamodb_items = keep_records  # type: ignore[method-assign,assignment]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedMoto:
    """moto server on 127.0.0.1:`port` running in a background thread of this process."""

    def __init__(self, port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        _disable_moto_lambda_delivery()
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> EmbeddedMoto:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def environment(self, region: str = "us-east-1") -> dict[str, str]:
        """What a shell must export to point every boto3 session at this endpoint."""
        return {**FAKE_ENV, "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()


def export(env: dict[str, str]) -> None:
    os.environ.update(env)
