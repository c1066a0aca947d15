"""The ensure function's checkpoint fold as streams (pure: bytes in, bytes out, no I/O).

Memory is bounded by what is held, not by what is read: the window's newest change per key
(at most `limit` bytes, counted as Python holds them), while the base streams through line by
line, each item written out as it passes (kept, replaced or dropped), then the window's new
items. Neither the base nor the output is ever held whole. DuckDB's checkpoint
(restore/checkpoint.py) and the reference model (restore/state.py) define the same state.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..core.records import dumps, loads, sequence_key
from ..core.timeline import Window

# What Python spends on one held key beside its bytes (the dict slot, the str and bytes
# headers, the tuple): about 300 bytes on CPython; counted generously.
HELD_PER_KEY = 400
APPLIED = ("", None)  # a held change already written in place of its base item (its line freed)

# A held change: (SequenceNumber, its record's line as read, or None: a REMOVE). The line as
# read, not the image re-encoded: a bytes object from orjson.dumps kept alive costs about 8 KB
# of heap whatever its length (measured: 80,000 images of 1 KB held 620 MB), a split line its size.
Held = tuple[str, bytes | None]


class WindowTooLarge(Exception):
    """The fold would hold more than its limit (or take too long): the CLI's checkpoint must do it."""

    def __init__(self, held: int, limit: int, why: str = "") -> None:
        super().__init__(why or f"the changes since the base hold over {held >> 20} MiB (limit {limit >> 20} MiB)")
        self.held, self.limit = held, limit


def key_text(image: dict[str, Any], keys: list[str]) -> str:
    return json.dumps([image[k] for k in keys], sort_keys=True)


def newest_changes(lines: Iterable[bytes], keys: list[str], window: Window, limit: int) -> dict[str, Held]:
    """Each key's last change the window reads (numeric sequence order), as compact bytes;
    WindowTooLarge as soon as they would hold more than `limit` bytes."""
    held: dict[str, Held] = {}
    size = 0
    for line in lines:
        record = loads(line)
        if not window.reads(record):
            continue
        k = key_text(record["Keys"], keys)
        seq = record["SequenceNumber"]
        seen = held.get(k)
        if seen is not None and sequence_key(seq) <= sequence_key(seen[0]):
            continue
        kept = None if record["eventName"] == "REMOVE" else line
        size += _held_size(k, seq, kept) - (_held_size(k, *seen) if seen is not None else 0)
        if size > limit:
            raise WindowTooLarge(size, limit)
        held[k] = (seq, kept)
    return held


def _held_size(key: str, seq: str, line: bytes | None) -> int:
    return len(key) + len(seq) + len(line or b"") + HELD_PER_KEY


def merge(
    base_lines: Iterable[bytes],
    held: dict[str, Held],
    keys: list[str],
    full_image: Callable[[str], dict[str, Any]],
) -> Iterator[bytes]:
    """The state's `{"Item": ...}` lines: each base item as it streams past (replaced by its
    last change, dropped by a REMOVE, else kept), then the items the window added. `held` is
    consumed: a change written in place of its base item is freed at once."""
    for line in base_lines:
        if not line.strip():
            continue
        row = loads(line)
        image = row.get("NewImage") or row.get("Item")
        if not image:
            continue
        k = key_text(image, keys)
        change = held.get(k)
        if change is None:
            yield b'{"Item":' + dumps(image) + b"}\n"
        elif change is not APPLIED:
            held[k] = APPLIED  # the base's other rows of this key (if any) are superseded too
            yield from _item_line(change[1], full_image)
    for change in held.values():
        if change is not APPLIED:
            yield from _item_line(change[1], full_image)


def _item_line(line: bytes | None, full_image: Callable[[str], dict[str, Any]]) -> Iterator[bytes]:
    if line is None:
        return  # REMOVE
    record = loads(line)
    # Too large for Firehose: the image is in the full record the pointer names.
    image = record.get("NewImage") or full_image(record["oversizeS3Key"])
    yield b'{"Item":' + dumps(image) + b"}\n"


def gzip_parts(lines: Iterable[bytes], part_bytes: int, counter: list[int]) -> Iterator[bytes]:
    """The lines as gzip files of about `part_bytes` each (at least one, maybe empty), each
    yielded as soon as it is full; `counter[0]` counts the lines."""
    compressor = zlib.compressobj(3, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    chunks: list[bytes] = []
    size = in_part = parts = 0
    for line in lines:
        counter[0] += 1
        in_part += 1
        chunk = compressor.compress(line)
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
        if size >= part_bytes:
            yield b"".join(chunks) + compressor.flush()
            compressor, chunks, size, in_part, parts = zlib.compressobj(3, zlib.DEFLATED, 31), [], 0, 0, parts + 1
    if in_part or not parts:
        yield b"".join(chunks) + compressor.flush()


def stream_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of one backup object read in chunks: gzip (one member or several) or plain."""
    partial: list[bytes] = []  # a line spanning chunks, joined once it ends (never re-copied per chunk)
    for chunk in _gunzip(chunks):
        if b"\n" not in chunk:
            partial.append(chunk)
            continue
        lines = chunk.split(b"\n")
        if partial:
            lines[0] = b"".join((*partial, lines[0]))
        partial = [lines.pop()]
        yield from (line for line in lines if line.strip())
    rest = b"".join(partial)
    if rest.strip():
        yield rest


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    it = iter(chunks)
    first = b""
    for chunk in it:
        first += chunk
        if len(first) >= 2:
            break
    if first[:2] != b"\x1f\x8b":
        yield first
        yield from it
        return
    d = zlib.decompressobj(31)
    pending = first
    while True:
        while pending:
            yield d.decompress(pending, 1 << 20)  # at most 1 MiB out per call: compressible input stays bounded
            pending = d.unconsumed_tail
            if d.eof:  # the next gzip member, if any
                pending = d.unused_data + pending
                d = zlib.decompressobj(31)
                if not pending.strip(b"\x00"):
                    pending = b""
        more = next(it, None)
        if more is None:
            yield d.flush()
            return
        pending = more
