"""Bad input to a handler: one clear error naming what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dynamo_continuous_backup import forwarder
from dynamo_continuous_backup.core.errors import BackupError

HANDLER_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("forwarder: not a stream batch", lambda: forwarder.handler({"detail": {}}, None), "not a DynamoDB Streams batch"),
    (
        "forwarder: record without a sequence number",
        lambda: forwarder.handler(
            {"Records": [{"eventID": "1", "eventName": "INSERT", "eventSourceARN": "a", "dynamodb": {}}]}, None
        ),
        "lacks",
    ),
]


@pytest.mark.parametrize(("case", "call", "message"), HANDLER_CASES, ids=[c[0] for c in HANDLER_CASES])
def test_stream_event_of_unknown_shape(case: str, call: Callable[[], Any], message: str) -> None:
    with pytest.raises(BackupError, match=message):
        call()
