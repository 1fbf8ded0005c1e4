"""Pack deltas, inventory output and signals into the messages of ``messages.kube`` and back.

The wire form of a delta is ``[op, kind, namespace, name, record]`` packed with
``messages.codec.pack_records``; ``deltas_of`` rebuilds ``(op, kind, (kind, ns, name), record)``
(lists inside records come back as tuples). ``chunks`` splits long delta lists so one message
stays bounded. Malformed payloads raise ``messages.codec.CodecError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from actors.kube.incident_signals import Signal
from actors.kube.inventory import InventoryDrain
from actors.kube.watch_state import Delta
from messages.codec import CodecError, pack_records, unpack_records
from messages.kube import (
    KubeDeltasObserved,
    KubeIncidentSignals,
    KubeInventoryBatch,
    KubeInventoryCommitted,
)

__all__ = ["chunks", "deltas_message", "deltas_of", "inventory_messages", "signals_message",
           "signals_of"]


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + size]


def _pack(deltas: Sequence[Delta]) -> bytes:
    return pack_records([(op, kind, key[1], key[2], record)
                         for op, kind, key, record in deltas])


def deltas_of(payload: bytes) -> list[Delta]:
    out: list[Delta] = []
    for item in unpack_records(payload):
        if not (isinstance(item, tuple) and len(item) == 5 and isinstance(item[4], dict)):
            raise CodecError("malformed delta: expected [op, kind, ns, name, record]")
        op, kind, ns, name, record = item
        out.append((op, kind, (kind, ns, name), record))
    return out


def deltas_message(resource: str, deltas: Sequence[Delta]) -> KubeDeltasObserved:
    return KubeDeltasObserved(resource=resource, count=len(deltas), payload=_pack(deltas))


def inventory_messages(piece: InventoryDrain, seq: int,
                       ) -> tuple[KubeInventoryBatch | None, KubeInventoryCommitted | None]:
    """The batch (if any deltas) and the commit (if this drain closed the snapshot)."""
    batch = None
    if piece.deltas:
        batch = KubeInventoryBatch(session_id=piece.session_id, seq=seq,
                                   count=len(piece.deltas), payload=_pack(piece.deltas))
    commit = None
    if piece.commit is not None:
        commit = KubeInventoryCommitted(session_id=piece.session_id, seq=seq,
                                        counts=tuple(sorted(piece.commit.items())))
    return batch, commit


def signals_message(signals: Sequence[Signal]) -> KubeIncidentSignals:
    return KubeIncidentSignals(count=len(signals), payload=pack_records(list(signals)))


def signals_of(message: KubeIncidentSignals) -> list[Signal]:
    return [dict(item) for item in unpack_records(message.payload)]
