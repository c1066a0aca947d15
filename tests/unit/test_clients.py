"""core/aws.py's Clients: what it costs to make one, and that it is freed with its clients."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import botocore.loaders
import pytest

from dynamo_continuous_backup.core.aws import Clients


def test_a_clients_object_is_freed_with_its_clients() -> None:
    # A cache on the class would keep every Clients (each client holds megabytes of models) for good
    made = Clients("us-east-1")
    made.get("dynamodb")
    gone = weakref.ref(made)
    del made
    gc.collect()
    assert gone() is None


def test_a_second_clients_parses_no_data_file_again(monkeypatch: pytest.MonkeyPatch) -> None:
    Clients("us-east-1").get("dynamodb")
    parsed: list[str] = []
    original = botocore.loaders.JSONFileLoader.load_file

    def load_file(self: Any, file_path: str) -> Any:
        parsed.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", load_file)
    second = Clients("eu-west-1")  # another session, another region: the same models
    assert second.get("dynamodb").meta.region_name == "eu-west-1"
    assert parsed == []
