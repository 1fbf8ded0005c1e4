"""Golden fixture frames: locate ``shared/fixtures`` and split length-prefixed ``.bin`` files.

A ``.bin`` file is a concatenation of ``uint32 big-endian length || message`` frames (see the
fixtures README). ``read_frames`` raises ``ValueError`` naming the offset when a file is
truncated. Shared by ``sim.hubble`` and ``sim.envoy`` (and by tests and benches).
"""

from __future__ import annotations

import json
import pathlib
import struct
from typing import Any

__all__ = ["FIXTURES", "expected_values", "read_frames", "split_frames"]

FIXTURES = pathlib.Path(__file__).resolve().parent.parent.parent.parent / "shared" / "fixtures"


def split_frames(data: bytes) -> list[bytes]:
    """Split a concatenation of length-prefixed frames; ``ValueError`` on a truncated tail."""
    frames: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise ValueError(f"truncated frame header at offset {offset}")
        (length,) = struct.unpack_from(">I", data, offset)
        end = offset + 4 + length
        if end > len(data):
            raise ValueError(f"frame at offset {offset} needs {length} bytes, file ends first")
        frames.append(data[offset + 4:end])
        offset = end
    return frames


def read_frames(relative: str) -> list[bytes]:
    """Frames of ``fixtures/<relative>`` (e.g. ``"hubble/getflows.bin"``)."""
    return split_frames((FIXTURES / relative).read_bytes())


def expected_values(relative: str) -> list[dict[str, Any]]:
    """The ``.jsonl`` expectations paired with a ``.bin`` file, one dict per frame."""
    path = FIXTURES / relative
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def enum_tables(folder: str) -> dict[str, dict[str, int]]:
    """The upstream enum name → number tables of ``fixtures/<folder>/enums.json``."""
    return dict(json.loads((FIXTURES / folder / "enums.json").read_text(encoding="utf-8")))
