"""``OperatorSystem``: start, query and tear down the operator's thespian actor system.

Owns the one ActorSystem of the process and its single top-level actor, the root Supervisor (no
global names: top-level actors are parented by the admin, so nothing would restart them).
``start`` applies the hardening (actor sockets on 127.0.0.1), picks a free loopback admin port
when the topology says 0, points thespian's internal log at a file (``THESPLOG_FILE``), routes
actor logging to stderr (``logDefs`` from ``logging_setup``), creates and configures the root
and waits for Ready.
``status``/``drain``/``inject_crash``/``tell_root`` talk to the root; ``ask`` is not thread-safe,
so calls are serialized by a lock and replies are matched by request id (``ask`` returns *any*
next message, stale ones included).
``shutdown`` follows reference/thespian.md §5: drain → ordered stop of the tree → ``asys.shutdown``
(bounded: it can hang 10 s on a stuck actor) → ``killpg(SIGTERM)`` of the thespian process
group → ``SIGKILL`` after a grace period → verify by pid that nothing is left. It never signals
its own process group. Works on simpleSystemBase too (for unit tests; no processes there).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pathlib
import random
import signal
import socket
import tempfile
import threading
import time
from typing import Any

from thespian.actors import (
    ActorAddress,
    ActorSystem,
    ActorSystemStartupFailure,
    InvalidActorAddress,
)

from actors.runtime import logging_setup
from actors.runtime.thespian_hardening import LOOPBACK, bind_actor_sockets_to_loopback
from actors.runtime.topology_model import Topology
from messages import codec
from messages.runtime import (
    ComponentFailed,
    ComponentReady,
    ComponentStatus,
    ComponentStopping,
    ConfigureComponent,
    CrashMode,
    DrainComplete,
    DrainRequest,
    InjectCrash,
    StatusProbe,
    StopComponent,
)

__all__ = ["OperatorSystem", "OperatorSystemError", "free_loopback_port", "process_group_pids"]

logger = logging.getLogger(__name__)

MULTIPROC_TCP = "multiprocTCPBase"
SIMPLE = "simpleSystemBase"
_POLL_S = 0.05


class OperatorSystemError(RuntimeError):
    """The actor system could not be started (root failed or never became ready)."""


def _listening_inodes(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in pathlib.Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    found.add(fields[9])
    return found


def kill_listeners(port: int) -> list[int]:
    """SIGKILL the process groups of the processes listening on ``port`` (never our own).

    A failed ActorSystem start leaves its daemonized admin (and logger) running: their process
    group is unknown until a root actor answers, so find them by the admin port instead."""
    inodes = _listening_inodes(port)
    if not inodes:
        return []
    groups, pids = set(), []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    pids.append(int(entry.name))
                    groups.add(os.getpgid(int(entry.name)))
                    break
    for group in groups - {os.getpgid(0)}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    return pids


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_loopback_port(rng: random.Random | None = None) -> int:
    """A TCP port free on 127.0.0.1 now, chosen BELOW the kernel's ephemeral range.

    Between choosing the admin port and thespian binding it, any socket bound to port 0 (test
    servers, gRPC channels) could take an ephemeral port; one outside that range cannot."""
    rng = rng or random.Random()
    low, _high = _ephemeral_range()
    floor = max(1024, min(20000, low - 2000))
    for _ in range(200):
        port = rng.randrange(floor, low)
        if _port_free(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:   # fall back: ephemeral
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def process_group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid`` (from /proc)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                found.append(int(entry.name))
    return sorted(found)


class OperatorSystem:
    """The running actor system of one operator process."""

    def __init__(self) -> None:
        self.asys: ActorSystem | None = None
        self.root: ActorAddress | None = None
        self.base = ""
        self.admin_port = 0
        self.pgid = 0
        self.root_pid = 0
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)

    # ---- start -----------------------------------------------------------------------------

    def start(self, topology: Topology, base: str = MULTIPROC_TCP,
              ready_timeout_s: float = 30.0) -> ComponentReady:
        """Start the system and the whole tree; raises OperatorSystemError if it fails."""
        if self.asys is not None:
            raise OperatorSystemError("already started")
        self.base = base
        capabilities: dict[str, Any] = {}
        log_defs = logging_setup.thespian_log_defs(topology.operator.log_format,
                                                   topology.operator.log_level.upper())
        attempts = 3 if base == MULTIPROC_TCP and not topology.operator.admin_port else 1
        asys: ActorSystem | None = None
        for attempt in range(1, attempts + 1):
            if base == MULTIPROC_TCP:
                capabilities = self._tcp_capabilities(topology)
            try:
                asys = ActorSystem(base, capabilities, logDefs=log_defs, transientUnique=True)
                break
            except (InvalidActorAddress, ActorSystemStartupFailure) as exc:
                if base == MULTIPROC_TCP:
                    left = kill_listeners(self.admin_port)
                    if left:
                        logger.warning("killed the failed attempt's admin processes: %s", left)
                if attempt == attempts:
                    raise OperatorSystemError(
                        f"actor system did not start on admin port {self.admin_port}: "
                        f"{exc}") from exc
                logger.warning("admin port %d was taken before thespian bound it (%s); "
                               "retrying on another port", self.admin_port, exc)
        if asys is None:
            raise OperatorSystemError("actor system did not start")
        self.asys = asys
        root_spec = topology.components[topology.root_id]
        self.root = asys.createActor(root_spec.actor_class)
        configure = ConfigureComponent(
            component_id=topology.root_id, component_type=root_spec.component_type,
            settings=codec.encode(topology.to_document()), incarnation=1)
        reply = self._ask(configure, ready_timeout_s,
                          lambda m: isinstance(m, (ComponentReady, ComponentFailed)))
        if not isinstance(reply, ComponentReady):
            why = reply.reason if isinstance(reply, ComponentFailed) else "no answer"
            self.shutdown(timeout_s=5.0, drain_s=0.0)
            raise OperatorSystemError(f"root supervisor did not start: {why}")
        self.root_pid = reply.pid
        if base != SIMPLE and reply.pid != os.getpid():
            self.pgid = os.getpgid(reply.pid)
        logger.info("actor system up: base=%s admin_port=%d pgid=%d", base, self.admin_port,
                    self.pgid)
        return reply

    def _tcp_capabilities(self, topology: Topology) -> dict[str, Any]:
        bind_actor_sockets_to_loopback()
        self.admin_port = topology.operator.admin_port or free_loopback_port()
        if not _port_free(self.admin_port):
            # thespian would silently JOIN whatever system owns the port (and a later shutdown
            # would tear that one down): refuse instead (reference §2.10)
            raise OperatorSystemError(f"admin port {self.admin_port} is already in use")
        os.environ.setdefault("THESPLOG_FILE", str(
            pathlib.Path(tempfile.gettempdir()) / f"kestrel-thespian-{self.admin_port}.log"))
        os.environ.setdefault("THESPLOG_THRESHOLD", "WARNING")
        os.environ.setdefault("THESPLOG_FILE_MAXSIZE", str(1 << 20))
        return {"Admin Port": self.admin_port}

    # ---- queries and commands --------------------------------------------------------------

    def status(self, timeout_s: float = 5.0) -> ComponentStatus | None:
        """The whole status tree, or None if the root did not answer in time."""
        rid = next(self._request_ids)
        probe = StatusProbe(request_id=rid, deadline_s=max(0.1, timeout_s * 0.8))
        reply = self._ask(probe, timeout_s,
                          lambda m: isinstance(m, ComponentStatus) and m.request_id == rid)
        return reply if isinstance(reply, ComponentStatus) else None

    def tell_root(self, message: Any) -> None:
        if self.asys is None or self.root is None:
            raise OperatorSystemError("not started")
        with self._lock:
            self.asys.tell(self.root, message)

    def inject_crash(self, component_id: str, mode: CrashMode) -> None:
        self.tell_root(InjectCrash(component_id=component_id, mode=mode))

    def drain(self, timeout_s: float) -> bool:
        """Stop sources and flush links (upstream first); True if everything flushed."""
        reply = self._ask(DrainRequest(deadline_s=timeout_s), timeout_s + 1.0,
                          lambda m: isinstance(m, DrainComplete))
        return isinstance(reply, DrainComplete) and reply.flushed

    def run_for(self, seconds: float) -> None:
        """Let ``seconds`` pass; on simpleSystemBase actors (and wakeups) only run inside
        listen/ask, so this pumps the system instead of sleeping."""
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            if self.base == SIMPLE and self.asys is not None:
                with self._lock:
                    self.asys.listen(remaining)
            else:
                time.sleep(min(remaining, 0.1))

    def root_alive(self) -> bool:
        """False once the root supervisor is gone (it escalated: the process should exit)."""
        if self.asys is None:
            return False
        if self.base == SIMPLE or not self.root_pid:
            return self.status(2.0) is not None
        fields = _proc_stat(self.root_pid)
        return fields is not None and fields[0] != "Z"

    def pids(self) -> list[int]:
        return process_group_pids(self.pgid) if self.pgid else []

    # ---- shutdown --------------------------------------------------------------------------

    def shutdown(self, timeout_s: float = 20.0, drain_s: float = 5.0,
                 grace_s: float = 2.0) -> list[int]:
        """Tear everything down; returns the pids still alive afterwards (empty = clean)."""
        if self.asys is None:
            return []
        deadline = time.monotonic() + timeout_s
        if self.pgid and not self.pids():          # the group is gone already (killed)
            drain_s, deadline = 0.0, time.monotonic() + grace_s + 1.0
            self.root = None
        with contextlib.suppress(Exception):
            if drain_s > 0 and self.root is not None:
                self.drain(min(drain_s, max(0.1, deadline - time.monotonic() - grace_s)))
        with contextlib.suppress(Exception):
            if self.root is not None:
                self._ask(StopComponent(reason="shutdown"),
                          max(0.1, min(5.0, deadline - time.monotonic() - grace_s)),
                          lambda m: isinstance(m, (ComponentStopping, ComponentFailed)))
        self._bounded_asys_shutdown(max(0.5, min(10.0, deadline - time.monotonic() - grace_s)))
        self.asys, self.root = None, None
        return self._kill_process_group(grace_s)

    def _bounded_asys_shutdown(self, limit_s: float) -> None:
        asys = self.asys
        if asys is None:
            return
        # ActorSystem.shutdown waits up to 10 s for a stuck actor; never let it hold us longer
        worker = threading.Thread(target=asys.shutdown, name="asys-shutdown", daemon=True)
        worker.start()
        worker.join(limit_s)
        if worker.is_alive():
            logger.warning("ActorSystem.shutdown still running after %.1fs; killing", limit_s)

    def _kill_process_group(self, grace_s: float) -> list[int]:
        if not self.pgid or self.pgid == os.getpgid(0):
            return []
        for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
            if not self.pids():
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, signum)
            end = time.monotonic() + wait_s
            while self.pids() and time.monotonic() < end:
                time.sleep(_POLL_S)
        left = self.pids()
        if left:
            logger.error("processes left after shutdown: %s", left)
        return left

    # ---- internals -------------------------------------------------------------------------

    def _ask(self, message: Any, timeout_s: float, accept: Any) -> Any:
        """Send ``message`` to the root and wait for the first reply ``accept`` takes."""
        if self.asys is None or self.root is None:
            raise OperatorSystemError("not started")
        with self._lock:
            deadline = time.monotonic() + timeout_s
            reply = self.asys.ask(self.root, message, timeout_s)
            while not accept(reply):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                if reply is None and self.base == SIMPLE:
                    return None                    # simple base: nothing more will come
                reply = self.asys.listen(remaining)
            return reply
