"""The consistency model of a restore (DESIGN.md section 4), as pure functions.

Per item, changes are ordered by numeric SequenceNumber. The state at T is the image of the
last change with time <= T (absent after a REMOVE); with no change at or before T, the image
in the newest snapshot finished at or before T. Duplicates share a SequenceNumber and collapse.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .errors import UserInputError
from .records import dumps, sequence_key


def parse_time(text: str | None, now: float) -> float:
    """ISO-8601 (naive means UTC) or epoch seconds; None means now."""
    if text is None:
        return now
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserInputError(
            f"--at {text!r} is not a time; use ISO-8601 (2026-11-22T10:00:00Z) or epoch seconds"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def item_key(keys: dict[str, Any], key_names: list[str]) -> tuple[str, ...]:
    return tuple(dumps(keys[name]).decode() for name in key_names)


def key_text(image: dict[str, Any], key_names: list[str]) -> str:
    """The item key as the state query spells it: typed key values as JSON, joined by \\x1f."""
    return chr(31).join(dumps(image[k]).decode() for k in key_names)


def item_state(
    changes: Iterable[dict[str, Any]], at: float, snapshot_image: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """One item's image at `at` from its change records and, failing those, a snapshot image."""
    last: dict[str, Any] | None = None
    for rec in changes:
        when = rec.get("ApproximateCreationDateTime")
        if when is not None and when > at:
            continue
        if last is None or sequence_key(rec["SequenceNumber"]) > sequence_key(last["SequenceNumber"]):
            last = rec
    if last is None:
        return snapshot_image
    return None if last["eventName"] == "REMOVE" else last.get("NewImage")


def canonical(value: Any) -> Any:
    """Sets are unordered in DynamoDB: sort their members so equal items hash equally."""
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") else canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def item_digest(image: dict[str, Any]) -> int:
    """Content hash of one item in its stored (base64 binary) form, canonical JSON."""
    text = json.dumps(canonical(image), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")


def table_checksum(digests: Iterable[int]) -> str:
    """Sum of item digests mod 2^128: equal for equal sets of items, whatever the order."""
    return f"{sum(digests) % (1 << 128):032x}"
