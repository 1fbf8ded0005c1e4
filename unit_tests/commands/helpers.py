"""Shared helpers for the command tests: a test allowlist, a result collector, pid checks."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import threading
from typing import Any

from actors.commands.settings import CommandSettings, ProgramRule, default_allowlist


def make_settings(tmp_path: pathlib.Path, *, extra_rules: tuple[ProgramRule, ...] = (),
                  bin_dir: pathlib.Path | None = None, **overrides) -> CommandSettings:
    """Default allowlist plus harmless programs (echo, printf, sleep) for running real commands."""
    rules = dict(default_allowlist())
    for rule in (ProgramRule(program="echo", max_positionals=16),
                 ProgramRule(program="printf", max_positionals=16),
                 ProgramRule(program="sleep", max_positionals=1), *extra_rules):
        rules[rule.program] = rule
    search = ((str(bin_dir),) if bin_dir else ()) + ("/usr/local/bin", "/usr/bin", "/bin")
    return dataclasses.replace(CommandSettings(), allowlist=rules, search_path=search,
                               working_dir=str(tmp_path), **overrides)


class Collector:
    """Thread-safe on_done target; ``wait(n)`` blocks (bounded) until n answers arrived."""

    def __init__(self) -> None:
        self.results: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, result) -> None:
        with self._cond:
            self.results.append(result)
            self._cond.notify_all()

    def wait(self, count: int, timeout_s: float = 30.0) -> list[Any]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.results) >= count, timeout=timeout_s)
            return list(self.results)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (PID 1 in a container may not reap)."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_dead(pids: list[int], timeout_s: float = 10.0) -> bool:
    event = threading.Event()
    for _ in range(int(timeout_s / 0.05)):
        if not any(pid_alive(pid) for pid in pids):
            return True
        event.wait(0.05)
    return False


def write_script(directory: pathlib.Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(body)
    os.chmod(path, 0o700)
