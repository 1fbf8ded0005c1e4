"""Reading a command's output in its own process group: incremental, capped, deadline-bound.

``OutputCapture.drain`` reads stdout and stderr with a selector until both reach EOF, the
deadline passes (``timed_out``), the combined output reaches the cap (``capped``), the stop
event is set, or the leader exited and leftover children kept the pipes open for longer than a
short linger. ``has_exited`` checks the leader without reaping it, so its pid (and therefore its
process-group id) cannot be reused before ``kill_group`` sends SIGKILL to the whole group. The
caller always kills the group and then reaps the leader.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable

__all__ = ["OutputCapture", "has_exited", "kill_group"]

_CHUNK = 65536
_LINGER_S = 0.5  # after the leader exits, how long leftover children may keep the pipes open


class OutputCapture:
    """Reads stdout and stderr incrementally until EOF, the deadline or the output cap."""

    def __init__(self, process: subprocess.Popen[bytes], clock: Callable[[], float],
                 deadline: float, cap: int, stop: threading.Event) -> None:
        self.process, self.clock, self.deadline, self.cap = process, clock, deadline, cap
        self.stop = stop
        self.out = bytearray()
        self.err = bytearray()
        self.timed_out = False
        self.capped = False

    def drain(self) -> None:
        selector = selectors.DefaultSelector()
        for stream, buffer in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            if stream is not None:
                selector.register(stream, selectors.EVENT_READ, buffer)
        exited_at: float | None = None
        idle_sleep = 0.002
        try:
            while (selector.get_map() or exited_at is None) and not self.stop.is_set():
                now = self.clock()
                if now >= self.deadline:
                    self.timed_out = True
                    return
                if exited_at is None and has_exited(self.process.pid):
                    exited_at = now
                if exited_at is not None and (not selector.get_map()
                                              or now - exited_at > _LINGER_S):
                    return
                wait = min(self.deadline - now, 0.05 if exited_at is not None else 0.2)
                if not selector.get_map():  # pipes closed, leader still running
                    time.sleep(min(wait, idle_sleep))
                    idle_sleep = min(idle_sleep * 2, 0.1)
                    continue
                for key, _ in selector.select(timeout=wait):
                    if not self._read(selector, key):
                        return
        finally:
            selector.close()

    def _read(self, selector: selectors.BaseSelector, key: selectors.SelectorKey) -> bool:
        chunk = os.read(key.fd, _CHUNK)
        if not chunk:
            selector.unregister(key.fileobj)
            return True
        buffer: bytearray = key.data
        room = self.cap - len(self.out) - len(self.err)
        buffer.extend(chunk[:max(room, 0)])
        if len(chunk) > room:
            self.capped = True
            return False
        return True


def has_exited(pid: int) -> bool:
    """True once the leader exited, without reaping it (WNOWAIT keeps its pid and group)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
