"""Messages of the actor runtime: component lifecycle, credit links, status and drain.

Protocol (see actors/runtime):
- a supervisor creates a child and sends ``ConfigureComponent``; the child answers
  ``ComponentReady`` once it runs; before a deliberate exit it sends ``ComponentStopping``, on an
  internal failure ``ComponentFailed`` (then exits), so the parent knows the reason that
  thespian's ``ChildActorExited`` does not carry;
- supervisors report every (re)started component up the tree as ``ComponentAddressed``; the root
  acts as link broker and sends ``ConnectLink`` to each producer with the consumer's address and a
  new epoch whenever either end (re)starts;
- a producer sends ``LinkBatch`` only while it holds credit; the consumer answers ``LinkCredit``
  when it has *finished* batches; stale epochs are ignored;
- ``StatusProbe`` fans out down the tree and ``ComponentStatus`` trees come back;
- ``DrainRequest`` / ``DrainComplete`` stop sources first and flush links before shutdown;
- ``StopComponent`` asks for a graceful, ordered stop (then SIGKILL after the child's timeout).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, ClassVar

from messages import message

__all__ = [
    "ComponentAddressed",
    "ComponentFailed",
    "ComponentReady",
    "ComponentState",
    "ComponentStatus",
    "ComponentStopping",
    "ConfigureComponent",
    "ConnectLink",
    "CrashMode",
    "DrainComplete",
    "DrainRequest",
    "InjectCrash",
    "LinkBatch",
    "LinkCredit",
    "LinkStatus",
    "Overflow",
    "StatusProbe",
    "StopComponent",
]


class Overflow(enum.Enum):
    """What a producer does when its link has no credit left."""

    BLOCK = "block"              # lossless: stop pulling from the source; nothing is dropped
    DROP_OLDEST = "drop_oldest"  # lossy: keep newest within a bound, count every drop


class ComponentState(enum.Enum):
    """Lifecycle state of a supervised component as shown on /status."""

    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"          # dead, restart scheduled
    STOPPING = "stopping"
    STOPPED = "stopped"          # temporary/transient child that ended; not restarted
    FAILED = "failed"            # gave up (intensity exceeded, escalated)
    UNRESPONSIVE = "unresponsive"  # did not answer a status probe in time


class CrashMode(enum.Enum):
    """How ``InjectCrash`` kills a component (demo and fault tests)."""

    RAISE = "raise"   # an exception inside a handler: reported as ComponentFailed
    EXIT = "exit"     # os._exit(3): the process vanishes without a word
    KILL = "kill"     # SIGKILL to itself


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class ConfigureComponent:
    """Supervisor → new child: who you are and your validated settings (msgpack bytes)."""

    component_id: str
    component_type: str
    settings: bytes
    incarnation: int

    def __repr__(self) -> str:  # settings can be a whole topology: keep thespian's str() cheap
        return (f"ConfigureComponent({self.component_id}#{self.incarnation},"
                f"{len(self.settings)}B)")

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ComponentReady:
    """Child → parent: configured and running."""

    component_id: str
    incarnation: int
    pid: int


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ComponentStopping:
    """Child → parent, just before a deliberate exit; ``normal`` marks a non-failure exit."""

    component_id: str
    incarnation: int
    reason: str
    normal: bool


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ComponentFailed:
    """Child → parent: an internal error; the child exits right after sending this."""

    component_id: str
    incarnation: int
    reason: str


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ComponentAddressed:
    """Supervisor → its parent (up to the root): a component (re)started at ``address``.

    ``address`` is a thespian ``ActorAddress``: it pickles, but has no msgpack form.
    """

    CODEC: ClassVar[bool] = False
    component_id: str
    incarnation: int
    address: Any


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ConnectLink:
    """Link broker → producer: send ``link_id`` batches to ``consumer`` under a new epoch.

    On a new epoch the producer forgets old credit, assumes ``window`` fresh credits and
    resends the batches it still holds unacknowledged (lossless links).
    """

    CODEC: ClassVar[bool] = False
    link_id: str
    consumer_id: str
    consumer: Any
    window: int
    overflow: Overflow
    epoch: int


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class LinkBatch:
    """Producer → consumer: ``count`` records of ``record_kind`` packed in ``payload``."""

    link_id: str
    epoch: int
    seq: int
    record_kind: str
    count: int
    payload: bytes
    window: int = 8   # the producer's window: the consumer batches its credits to about half
    acked_through: int = 0   # every seq <= this was credited when sent (epoch start on reorder)

    def __repr__(self) -> str:  # thespian formats every message 3x per hop: keep it O(1)
        return f"LinkBatch({self.link_id},e{self.epoch},#{self.seq},n={self.count})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LinkCredit:
    """Consumer → producer: batches up to and including ``through_seq`` are finished."""

    link_id: str
    epoch: int
    through_seq: int


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LinkStatus:
    """One link's accounting, taken atomically by its producer.

    Counts records, not batches: received = forwarded + dropped + in_flight at every instant.
    """

    link_id: str
    producer_id: str
    consumer_id: str
    overflow: Overflow
    window: int
    batches_in_flight: int
    received: int
    forwarded: int
    dropped: int
    in_flight: int


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StatusProbe:
    """Ask a component (and, for supervisors, its subtree) for a ``ComponentStatus``.

    A supervisor answers within ``deadline_s``: children that did not answer by then are
    reported UNRESPONSIVE (it gives its own children a shorter deadline)."""

    request_id: int
    deadline_s: float = 2.0


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class ComponentStatus:
    """A component's status; supervisors fill ``children`` with their subtree."""

    request_id: int
    component_id: str
    component_type: str
    state: ComponentState
    incarnation: int
    pid: int
    restarts: int
    last_error: str
    uptime_s: float
    links: tuple[LinkStatus, ...] = ()
    counters: tuple[tuple[str, float], ...] = ()
    children: tuple[ComponentStatus, ...] = ()
    restart_causes: tuple[tuple[str, int], ...] = ()   # (cause, count) of every restart
    backoff_attempts: int = 0    # consecutive failures the restart backoff is counting

    def __repr__(self) -> str:
        return f"ComponentStatus({self.component_id},{self.state.value},{len(self.children)})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InjectCrash:
    """Fault injection: route down the tree to ``component_id`` and crash it by ``mode``."""

    component_id: str
    mode: CrashMode


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StopComponent:
    """Parent → child: stop gracefully now (supervisors stop their children in reverse order
    first); the child answers ``ComponentStopping(normal=True)`` and exits. The parent SIGKILLs
    it when its ``shutdown_timeout_s`` runs out."""

    reason: str


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DrainRequest:
    """Stop taking from sources, flush links, then answer ``DrainComplete``."""

    deadline_s: float


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DrainComplete:
    """Answer to ``DrainRequest``: ``flushed`` is False when the deadline cut the drain short."""

    component_id: str
    flushed: bool
