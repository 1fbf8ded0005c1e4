"""Delivery of routed cloud commands to their owner components over request links (plain logic).

The uplink core decides WHO owns a command (``CommandRouted``); this module turns it into the
``command`` link record ``{request_id, deadline_unix, kind, args}`` (``messages.records``) and
keeps it in a bounded per-owner queue while the owner's request link has no credit (or, for a
short grace after start, does not exist yet). Every command leaves exactly one way:
- delivered (``take``), after which the owner answers with a ``command_result``;
- answered by the uplink itself through the returned ``CloudCommandAnswered`` (undecodable
  arguments, a full queue, an owner that is not linked, the operator draining);
- dropped from the queue once its deadline passed: the core's own deadline tracking
  (``UplinkCore.tick``) answers those DEADLINE_EXCEEDED, so they are only counted here.
Deadlines are absolute Unix seconds compared with the injected wall clock.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import msgpack

from actors.uplink.command_routing import CommandRouted
from messages.uplink import CloudCommandAnswered, CloudCommandStatus

__all__ = ["CommandDelivery", "QueuedCommand", "local_answer"]


@dataclasses.dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A ``command`` record waiting for its owner's credit."""

    request_id: str
    deadline_unix: float
    record: dict[str, Any]


def local_answer(request_id: str, status: CloudCommandStatus, error: str) -> CloudCommandAnswered:
    """The uplink's own answer to ``request_id`` (payload ``{"error": ...}`` like the core's)."""
    payload = bytes(msgpack.packb({"error": error}, use_bin_type=True))
    return CloudCommandAnswered(request_id=request_id, status=status, error=error,
                                payload=payload, truncated=False)


class CommandDelivery:
    """Bounded per-owner queues of command records, with deadlines."""

    def __init__(self, *, queue_limit: int, wall_clock: Callable[[], float] = time.time) -> None:
        if queue_limit < 1:
            raise ValueError("queue_limit must be >= 1")
        self.queue_limit = queue_limit
        self._wall = wall_clock
        self._queues: dict[str, collections.deque[QueuedCommand]] = {}
        self.counters: collections.Counter[str] = collections.Counter(dict.fromkeys(
            ("commands_routed_total", "commands_answered_locally_total",
             "commands_expired_in_queue_total"), 0))

    def prepare(self, routed: CommandRouted) -> QueuedCommand | CloudCommandAnswered:
        """The record for ``routed``, or the local answer when its arguments are unusable."""
        command = routed.command
        try:
            args = msgpack.unpackb(command.arguments, raw=False) if command.arguments else {}
        except (ValueError, msgpack.UnpackException) as error:
            return self.refuse(command.request_id, CloudCommandStatus.FAILED,
                               f"undecodable command arguments: {error}")
        if not isinstance(args, dict):
            return self.refuse(command.request_id, CloudCommandStatus.FAILED,
                               "command arguments are not a mapping")
        deadline = command.deadline_unix_ms / 1000.0
        return QueuedCommand(command.request_id, deadline, {
            "request_id": command.request_id, "deadline_unix": deadline,
            "kind": command.kind.value, "args": args})

    def refuse(self, request_id: str, status: CloudCommandStatus,
               error: str) -> CloudCommandAnswered:
        self.counters["commands_answered_locally_total"] += 1
        return local_answer(request_id, status, error)

    def enqueue(self, owner_id: str, queued: QueuedCommand) -> CloudCommandAnswered | None:
        """Queue for ``owner_id``; the REJECTED answer when its queue is full."""
        waiting = self._queues.setdefault(owner_id, collections.deque())
        self._expire(waiting)
        if len(waiting) >= self.queue_limit:
            return self.refuse(queued.request_id, CloudCommandStatus.REJECTED,
                               f"too many commands waiting for {owner_id}")
        waiting.append(queued)
        return None

    def waiting(self, owner_id: str) -> int:
        return len(self._queues.get(owner_id, ()))

    def owners_waiting(self) -> list[str]:
        """Owners with live queued commands (expired ones are dropped first)."""
        for waiting in self._queues.values():
            self._expire(waiting)
        return [owner for owner, waiting in self._queues.items() if waiting]

    def take(self, owner_id: str) -> QueuedCommand | None:
        """The oldest live command for ``owner_id`` (expired ones are dropped on the way)."""
        waiting = self._queues.get(owner_id)
        if not waiting:
            return None
        self._expire(waiting)
        if not waiting:
            return None
        self.counters["commands_routed_total"] += 1
        return waiting.popleft()

    def delivered(self) -> None:
        """A command went straight to its owner without queueing."""
        self.counters["commands_routed_total"] += 1

    def refuse_all(self, owner_id: str, status: CloudCommandStatus,
                   error: str) -> list[CloudCommandAnswered]:
        """Answer every live command queued for ``owner_id`` locally (owner never linked)."""
        waiting = self._queues.pop(owner_id, collections.deque())
        self._expire(waiting)
        return [self.refuse(queued.request_id, status, error) for queued in waiting]

    def queued(self) -> int:
        return sum(len(waiting) for waiting in self._queues.values())

    def _expire(self, waiting: collections.deque[QueuedCommand]) -> None:
        now = self._wall()
        live = [queued for queued in waiting if queued.deadline_unix > now]
        self.counters["commands_expired_in_queue_total"] += len(waiting) - len(live)
        waiting.clear()
        waiting.extend(live)
