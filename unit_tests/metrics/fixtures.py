"""Helpers to read the shared OTLP golden fixtures (frames + expected JSON)."""

from __future__ import annotations

import gzip
import json
import pathlib
import struct
from typing import Any

OTLP_DIR = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "otlp"
NAMES = ("daemonset-gauges", "deployment-cumulative", "large-10k-points", "no-k8s",
         "statefulset-delta", "summary")


def frames(name: str) -> list[bytes]:
    data, off, out = (OTLP_DIR / f"{name}.bin").read_bytes(), 0, []
    while off < len(data):
        (n,) = struct.unpack_from(">I", data, off)
        out.append(data[off + 4: off + 4 + n])
        off += 4 + n
    return out


def expected(name: str) -> list[dict[str, Any]]:
    path = OTLP_DIR / f"{name}.jsonl"
    if not path.exists():
        path = OTLP_DIR / f"{name}.jsonl.gz"
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]
