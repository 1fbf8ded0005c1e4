"""Run ``kestrel-operator run`` as a real process tree and look at it from outside.

Used by the demo and the system tests: start the CLI as a subprocess with a topology file, poll
its status endpoint, find every process of its tree (thespian's forked actors keep the parent's
command line, which names our unique topology file), and read listening sockets from
/proc/net/tcp*. It never imports operator code: the operator is a black box here.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

REPO = pathlib.Path(__file__).resolve().parents[2]


class OperatorProcessError(RuntimeError):
    """The operator under observation did not do what was awaited."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def tree_pids(marker: str) -> set[int]:
    """Every live process whose command line contains ``marker``."""
    found = set()
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text()
            if marker in cmdline and stat.rsplit(")", 1)[1].split()[0] != "Z":
                found.add(int(entry.name))
    return found


def listening_sockets(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP listener owned by ``pids``."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in pathlib.Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:
                continue
            hex_addr, hex_port = local.split(":")
            found.append((_address(hex_addr, width), int(hex_port, 16)))
    return found


def _address(hex_addr: str, width: int) -> str:
    raw = bytes.fromhex(hex_addr)
    if width == 8:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


class OperatorUnderTest:
    """One ``kestrel-operator run`` subprocess with its status URL and process tree."""

    def __init__(self, tmp_path: pathlib.Path, topology_yaml: str, status_port: int) -> None:
        self.topology_path = tmp_path / f"topology-{status_port}.yaml"
        self.topology_path.write_text(topology_yaml)
        self.url = f"http://127.0.0.1:{status_port}"
        self.log_path = tmp_path / f"operator-{status_port}.log"
        self.seen_pids: set[int] = set()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_within_s: float = 40.0, probe: str = "/readyz") -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "actors.runtime.cli", "run", "--topology",
                 str(self.topology_path)], stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=REPO)
        deadline = time.monotonic() + ready_within_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OperatorProcessError(f"operator exited early:\n{self.log()}")
            with contextlib.suppress(OSError):
                if http_get(self.url + probe)[0] == 200:
                    self.pids()
                    return
            time.sleep(0.2)
        raise OperatorProcessError(
            f"operator not ready within {ready_within_s}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def pids(self) -> set[int]:
        current = tree_pids(str(self.topology_path))
        self.seen_pids |= current
        return current

    def status(self) -> dict[str, Any]:
        code, body = http_get(self.url + "/status")
        if code not in (200, 503):
            raise OperatorProcessError(f"/status answered {code}: {body[:200]}")
        document: dict[str, Any] = json.loads(body)
        return document

    def wait_for(self, predicate: Any, within_s: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        document: dict[str, Any] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, OperatorProcessError, StopIteration):
                document = self.status()
                self.pids()
                if predicate(document):
                    return document
            time.sleep(0.25)
        raise OperatorProcessError(f"timed out waiting for {what}; last status {document}")

    def component_pid(self, component_id: str) -> int:
        return int(component(self.status(), component_id)["pid"])

    def terminate(self, within_s: float = 30.0) -> int:
        if self.process is None:
            raise OperatorProcessError("not started")
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(within_s)

    def kill_everything(self) -> None:
        """Finalizer: whatever happened, leave no process behind."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        for pid in self.pids() | self.seen_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def components(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node["children"]:
        yield from components(child)


def component(document: dict[str, Any], component_id: str) -> dict[str, Any]:
    return next(c for c in components(document["root"]) if c["id"] == component_id)
