"""Shared fixtures for system tests: free loopback ports, process-tree cleanup, leak checks.

Every system test that starts processes registers them here (by pid or process group); the
finalizer SIGKILLs whatever is still alive and the test FAILS if something had to be killed
after the code under test claimed a clean shutdown. Pids are checked, never process names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import signal
import socket
import time

import pytest

from actors.runtime.thespian_system import OperatorSystem


def free_port() -> int:
    """An ephemeral port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def group_pids(pgid: int) -> list[int]:
    """Live processes in process group ``pgid``."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                found.append(int(entry.name))
    return sorted(found)


def wait_until(predicate, timeout_s: float = 10.0, step_s: float = 0.05):
    """Poll ``predicate`` until truthy (returns its value) or the bound runs out (None)."""
    end = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            return None
        time.sleep(step_s)


def listening_sockets(pids: list[int]) -> list[tuple[int, str, int]]:
    """(pid, local address, port) of every listening TCP socket owned by ``pids``."""
    inodes: dict[str, set[int]] = {}       # forked processes share inherited sockets
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.setdefault(target[8:-1], set()).add(pid)
    found: list[tuple[int, str, int]] = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(OSError):
            for line in pathlib.Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                local, state, inode = parts[1], parts[3], parts[9]
                if state != "0A" or inode not in inodes:        # 0A = LISTEN
                    continue
                hex_addr, hex_port = local.split(":")
                address = _decode_address(hex_addr, width)
                found.extend((pid, address, int(hex_port, 16)) for pid in inodes[inode])
    return found


def _decode_address(hex_addr: str, width: int) -> str:
    raw = bytes.fromhex(hex_addr)
    if width == 8:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


class ProcessTracker:
    """Remembers process groups and pids a test started; kills and reports leftovers."""

    def __init__(self) -> None:
        self.pgids: set[int] = set()
        self.pids: set[int] = set()

    def add_group(self, pgid: int) -> None:
        if pgid and pgid != os.getpgid(0):
            self.pgids.add(pgid)
            self.pids.update(group_pids(pgid))

    def add_pids(self, pids) -> None:
        self.pids.update(pid for pid in pids if pid != os.getpid())

    def leftovers(self) -> list[int]:
        for pgid in self.pgids:
            self.pids.update(group_pids(pgid))
        return sorted(pid for pid in self.pids if alive(pid))

    def kill_all(self) -> list[int]:
        left = self.leftovers()
        for pgid in self.pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not self.leftovers(), 5.0)
        return left


@pytest.fixture
def processes():
    """A ProcessTracker; at teardown anything still alive is SIGKILLed and fails the test."""
    tracker = ProcessTracker()
    yield tracker
    left = tracker.kill_all()
    assert not left, f"processes left behind (killed at teardown): {left}"


@pytest.fixture
def admin_port() -> int:
    """0: OperatorSystem picks a port below the kernel's ephemeral range (no test server's
    port-0 bind can take it meanwhile) and retries if it is lost anyway."""
    return 0


@pytest.fixture
def operator_system(processes, admin_port):
    """Factory: start an OperatorSystem on multiprocTCPBase with this test's own admin port.

    Returns ``start(topology) -> OperatorSystem``; the finalizer always shuts it down, and the
    ``processes`` fixture then fails the test if any process of its group survived.
    """
    started: list[OperatorSystem] = []

    def start(topology):
        topology = dataclasses.replace(
            topology, operator=dataclasses.replace(topology.operator, admin_port=admin_port))
        system = OperatorSystem()
        started.append(system)
        try:
            system.start(topology, base="multiprocTCPBase")
        finally:
            processes.add_group(system.pgid)
        return system

    yield start
    for system in started:
        processes.add_group(system.pgid)
        system.shutdown(timeout_s=8.0, drain_s=0.5, grace_s=1.0)
