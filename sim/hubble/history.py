"""The flow history a simulated relay serves: the replayed golden fixture or synthetic flows.

``build_sequence("replay", loops=N)`` loops the 2,000 fixture frames (times shifted per loop);
``build_sequence("synthetic", total=N, rate=R, nodes=K)`` stamps a seeded synthetic pool at R
flows/s. Raises ``ValueError`` for an unknown mode.
"""

from __future__ import annotations

from messages.wire.observer import observer_pb2
from sim.hubble import frames
from sim.hubble.flow_source import FlowSequence, pool_from_responses
from sim.hubble.synthetic import synthetic_pool

__all__ = ["build_sequence"]


def build_sequence(mode: str, *, loops: int = 1, total: int = 0, rate: float = 0.0,
                   nodes: int = 6, pool_size: int = 4096) -> FlowSequence:
    """The flow history for ``mode`` ("replay" of the fixture or "synthetic")."""
    if mode == "replay":
        pool = pool_from_responses([observer_pb2.GetFlowsResponse.FromString(raw)
                                    for raw in frames.read_frames("hubble/getflows.bin")])
        return FlowSequence(pool, total=total or len(pool) * loops, rate=rate, replay=True)
    if mode == "synthetic":
        pool = synthetic_pool(pool_size, nodes=nodes)
        return FlowSequence(pool, total=total or pool_size * loops, rate=rate, replay=False)
    raise ValueError(f"unknown mode {mode!r}")
