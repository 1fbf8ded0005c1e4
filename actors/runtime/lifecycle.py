"""The operator's main process: start the actor tree from a topology, serve status, stop cleanly.

``run(topology)`` is what ``kestrel-operator run`` calls. It starts the thespian system (one root
supervisor; every socket on loopback), serves the status endpoint from this process, and blocks
until SIGTERM/SIGINT or until the tree dies (the root escalated: Kubernetes restarts the pod).
Shutdown follows DESIGN §3: stop the status server, drain (sources first, links flushed) within
``drain_timeout_s``, ``ActorSystem.shutdown()``, then a ``killpg`` of the actor process group so
nothing survives. Exit codes: 0 after a requested stop, 1 when the tree
failed, 2 when it could not start.
"""

from __future__ import annotations

import gc
import importlib
import logging
import signal
import threading
import time
from types import FrameType

from actors.runtime import heap, status_http, thespian_system
from actors.runtime.topology_model import Topology
from messages.runtime import ComponentStatus

__all__ = ["OperatorProcess", "demo", "run"]

logger = logging.getLogger(__name__)

_STATUS_TIMEOUT_S = 2.0
_LIVENESS_PERIOD_S = 1.0
_PROBE_EVERY_TICKS = 3


def preload_actor_modules(topology: Topology) -> list[str]:
    """Import every actor class's module here, before thespian forks its admin.

    Each actor is a forked process; modules it imports after the fork (grpc, numpy, protobuf,
    the kubernetes helpers) are private to it, ~15-20 MB each. Imported once in the parent they
    are shared copy-on-write by every actor, which is what PSS summed over the tree measures.
    Importing starts no threads (no channel or server exists yet), so forking stays safe.
    Then ``gc.freeze()``: the collector writes into the header of every object it examines, so
    a child's first full collection would copy every page holding the inherited objects;
    frozen, they are never examined (a forked child running a full collection: 13 MB private
    unfrozen, 1 MB frozen; idle actors of the demo tree showed no measurable change, their
    private pages come from their own allocations and refcount writes). And at most two malloc
    arenas per process (``heap.limit_arenas``, inherited by every child; not measured apart)."""
    loaded = []
    for spec in topology.components.values():
        module = spec.actor_class.rpartition(".")[0]
        if module and module not in loaded:
            importlib.import_module(module)
            loaded.append(module)
    gc.collect()
    gc.freeze()
    heap.limit_arenas()
    return loaded


class OperatorProcess:
    """The actor system plus the status endpoint, started and stopped together."""

    def __init__(self, topology: Topology, *, base: str = "multiprocTCPBase") -> None:
        self.topology = topology
        self.base = base
        self.system: thespian_system.OperatorSystem | None = None
        self.server: status_http.StatusServer | None = None

    def status(self) -> ComponentStatus | None:
        return self.system.status(timeout_s=_STATUS_TIMEOUT_S) if self.system else None

    def start(self) -> None:
        settings = self.topology.operator
        preload_actor_modules(self.topology)
        self.system = thespian_system.OperatorSystem()
        self.system.start(self.topology, base=self.base)
        self.server = status_http.StatusServer(
            settings.status_host, settings.status_port, provider=self.status,
            ready_check=status_http.readiness_check(self.topology))
        self.server.start()
        logger.info("operator running: status on http://%s:%d/status",
                    settings.status_host, self.server.port)

    def alive(self) -> bool:
        """False once the root supervisor is gone (it escalated past its restart intensity)."""
        return self.system is not None and self.system.root_alive()

    def stop(self) -> list[int]:
        """Drain, stop the status server, shut the actor system down; pids left behind."""
        settings = self.topology.operator
        left: list[int] = []
        if self.server is not None:
            self.server.stop()
        if self.system is not None:
            left = self.system.shutdown(timeout_s=settings.shutdown_timeout_s,
                                        drain_s=settings.drain_timeout_s)
        self.system, self.server = None, None
        return left


def run(topology: Topology, *, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); return the process exit code."""
    stop = stop or threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    process = OperatorProcess(topology)
    try:
        process.start()
    except Exception:
        logger.exception("operator failed to start")
        process.stop()
        return 2
    # Only now: thespian forks its admin from this process, and a forked actor must not inherit
    # a handler that merely sets an event here (PR_SET_PDEATHSIG relies on SIGTERM ending it).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    ticks = 0
    try:
        while not stop.wait(_LIVENESS_PERIOD_S):
            if not process.alive():
                logger.error("the root supervisor is gone (restart intensity exceeded): exiting")
                return 1
            ticks += 1
            if ticks % _PROBE_EVERY_TICKS == 0:
                # every actor sees a message now and then, so a timer whose thespian wakeup
                # was lost fires late instead of never (actors.runtime.timer_wheel)
                process.status()
        return 0
    finally:
        started = time.monotonic()
        left = process.stop()
        if left:
            logger.error("processes left after shutdown: %s", left)
        logger.info("stopped in %.1f s", time.monotonic() - started)


def demo(duration_s: float = 30.0) -> int:
    """``kestrel-operator demo``: the synthetic pipeline with a crash and its recovery."""
    from actors.runtime.demo import run_demo  # imported late: only the demo needs it

    return run_demo(duration_s=duration_s)
