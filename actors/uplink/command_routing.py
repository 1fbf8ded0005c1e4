"""Routing of cloud commands to their owner components, with deadlines (plain logic).

Owns the routing table (command kind → owner component id, from settings) and the pending set:
each command is routed once (a retried request id, pending or recently finished, is counted and
ignored: idempotent), refused when no component owns its kind (UNSUPPORTED), when too many are
pending (REJECTED) or when its deadline already passed (DEADLINE_EXCEEDED). ``expire()`` returns
the pending commands whose deadline passed so the caller answers them; ``complete()`` tells
whether a result still belongs to a pending command (late results are counted, not sent).
Deadlines are absolute Unix times from the cloud, compared with the injected wall clock.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable

from messages.uplink import (
    CloudCommandIssued,
    CloudCommandKind,
    CloudCommandReceived,
    CloudCommandStatus,
)

__all__ = ["CommandRefusal", "CommandRouted", "CommandRouter"]


@dataclasses.dataclass(frozen=True, slots=True)
class CommandRouted:
    """Deliver ``command`` to the component ``owner_id``."""

    owner_id: str
    command: CloudCommandIssued


@dataclasses.dataclass(frozen=True, slots=True)
class CommandRefusal:
    """The uplink answers ``request_id`` itself with ``status``."""

    request_id: str
    status: CloudCommandStatus
    error: str


class CommandRouter:
    """Pending commands by request id, with deadlines and duplicate suppression."""

    def __init__(self, owners: dict[CloudCommandKind, str], *, max_pending: int,
                 default_timeout_s: float, wall_clock: Callable[[], float] = time.time) -> None:
        self.owners = dict(owners)
        self.max_pending = max_pending
        self.default_timeout_s = default_timeout_s
        self._wall = wall_clock
        self._pending: dict[str, float] = {}           # request id → deadline (Unix seconds)
        self._finished: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.stats: collections.Counter[str] = collections.Counter(dict.fromkeys(
            ("commands_received", "commands_duplicate", "commands_expired",
             "commands_late_or_unknown_results"), 0))

    @property
    def pending_ids(self) -> frozenset[str]:
        return frozenset(self._pending)

    def route(self, msg: CloudCommandReceived) -> CommandRouted | CommandRefusal | None:
        """Where ``msg`` goes, or the local answer; None for a duplicate (ignored)."""
        self.stats["commands_received"] += 1
        request_id = msg.request_id
        if request_id in self._pending or request_id in self._finished:
            self.stats["commands_duplicate"] += 1
            return None
        now = self._wall()
        deadline_s = msg.deadline_unix_ms / 1000.0 if msg.deadline_unix_ms > 0 else \
            now + self.default_timeout_s
        owner = self.owners.get(msg.kind)
        if owner is None:
            return self._refuse(request_id, CloudCommandStatus.UNSUPPORTED,
                                f"no component handles {msg.kind.value}")
        if len(self._pending) >= self.max_pending:
            return self._refuse(request_id, CloudCommandStatus.REJECTED,
                                "too many commands pending")
        if deadline_s <= now:
            return self._refuse(request_id, CloudCommandStatus.DEADLINE_EXCEEDED,
                                "deadline passed before dispatch")
        self._pending[request_id] = deadline_s
        return CommandRouted(owner, CloudCommandIssued(
            request_id=request_id, kind=msg.kind, deadline_unix_ms=int(deadline_s * 1000),
            arguments=msg.arguments))

    def complete(self, request_id: str) -> bool:
        """True if ``request_id`` was pending (its result must be sent)."""
        if self._pending.pop(request_id, None) is None:
            self.stats["commands_late_or_unknown_results"] += 1
            return False
        self._remember(request_id)
        return True

    def expire(self) -> list[CommandRefusal]:
        now = self._wall()
        expired = [rid for rid, deadline in self._pending.items() if deadline <= now]
        for request_id in expired:
            del self._pending[request_id]
            self.stats["commands_expired"] += 1
        return [self._refuse(rid, CloudCommandStatus.DEADLINE_EXCEEDED,
                             "no result before the deadline") for rid in expired]

    def _refuse(self, request_id: str, status: CloudCommandStatus, error: str) -> CommandRefusal:
        self._remember(request_id)
        self.stats[f"commands_answered_locally.{status.value}"] += 1
        return CommandRefusal(request_id, status, error)

    def _remember(self, request_id: str) -> None:
        self._finished[request_id] = None
        while len(self._finished) > 4 * self.max_pending:
            self._finished.popitem(last=False)
