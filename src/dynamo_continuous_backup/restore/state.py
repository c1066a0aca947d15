"""The consistency model of a restore (docs/design.md section 4), as pure functions.

Per item, changes are ordered by numeric SequenceNumber. The state at T is the image of the
last change with time <= T (absent after a REMOVE); with no change at or before T, the image
in the newest snapshot finished at or before T. Duplicates share a SequenceNumber and collapse.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..core.errors import UserInputError
from ..core.records import sequence_key


def parse_time(text: str | None, now: float) -> float:
    """ISO-8601 (naive means UTC) or epoch seconds; None means now."""
    if text is None:
        return now
    bad = UserInputError(f"--at {text!r} is not a time; use ISO-8601 (2026-11-22T10:00:00Z) or epoch seconds")
    try:
        epoch = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise bad from None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    # nan, inf and epochs no calendar holds parse as floats but name no time (and would
    # reach the SQL, where they look like a corrupt backup).
    if not math.isfinite(epoch):
        raise bad
    try:
        datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, ValueError, OSError):
        raise bad from None
    return epoch


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
