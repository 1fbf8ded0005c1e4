"""Everything the kube watcher actor decides, as plain logic (no thespian, no sockets).

``WatcherCore`` owns one ``WatchState`` per resource plus the shared pipeline
(``PolicyTargets`` → ``InventoryTracker``, ``PodIndexFeed``, ``IncidentMonitors`` hooked in as
state observers) and the hand-shake with the adapter threads:
- ``step_for(resource)`` → ``(ticket, Step)`` for the thread (LIST, WATCH, or WAIT: the thread
  sleeps and answers READY), or None while a step is outstanding; ``on_io(WatchIo)`` applies a
  raw result and returns True when the step ended (dispatch again). Lines of a watch after its
  ERROR event and items of older tickets are ignored (counted in ``stale_items``).
- a resource whose API is absent (404 on every path) or forbidden (403) is *skipped*: its
  kinds count as synced (so the inventory commit is not held hostage), it is listed in
  ``skipped`` with the reason, and it is tried again every ``recheck_s``; other resources are
  not affected.
- outputs wait in bounded buffers until the actor has credit: ``tracker.drain(n)`` (inventory),
  ``take_signals(n)`` (incidents; oldest dropped and counted beyond ``max_signals``),
  ``take_captures(n)`` (signals worth a log capture, same bound), ``pod_index.take(link, n)``.
"""

from __future__ import annotations

import collections
import logging
import random
from collections.abc import Callable
from typing import Any

from actors.kube.converters import RESOURCES
from actors.kube.errors import KubeApiError
from actors.kube.incident_monitors import IncidentMonitors
from actors.kube.incident_signals import Signal
from actors.kube.inventory import InventoryTracker
from actors.kube.pod_index_feed import PodIndexFeed
from actors.kube.pod_logs import wants_capture
from actors.kube.policy_targets import PolicyTargets
from actors.kube.settings import KubeSettings
from actors.kube.watch_io_adapter import CLOSED, FAILED, LINE, PAGE, READY, WatchIo
from actors.kube.watch_state import Delta, Phase, Step, WatchState
from actors.kube.workload_index import WorkloadIndex
from actors.runtime.backoff import Backoff

__all__ = ["WatcherCore"]

logger = logging.getLogger(__name__)


class WatcherCore:
    """Watch states, the inventory pipeline and the output buffers of one kube watcher."""

    def __init__(self, settings: KubeSettings, *, wall_clock: Callable[[], float],
                 clock: Callable[[], float], recheck_s: float = 300.0,
                 max_signals: int = 10_000, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.recheck_s = recheck_s
        self.max_signals = max_signals
        rng = rng or random.Random()
        self.states: dict[str, WatchState] = {}
        self.monitors = IncidentMonitors(settings, wall_clock)
        for resource in settings.resources:
            backoff = Backoff(settings.backoff_min_s, settings.backoff_max_s,
                              settings.backoff_reset_after_s, clock=clock,
                              rng=random.Random(rng.random()))
            state = WatchState(RESOURCES[resource], backoff, clock)
            if resource in IncidentMonitors.RESOURCES:
                state.observers.append(self._observer(resource))
            self.states[resource] = state
        self.targets = PolicyTargets(WorkloadIndex(), settings.istio_root_namespace)
        self.tracker = InventoryTracker(k for r in self.states for k in self.kinds_of(r))
        self.pod_index = PodIndexFeed()
        self.signals: collections.deque[Signal] = collections.deque()
        self.captures: collections.deque[Signal] = collections.deque()
        self.outstanding: dict[str, int] = dict.fromkeys(self.states, 0)
        self.ending: set[str] = set()
        self.hold_until: dict[str, float] = {}
        self.skipped: dict[str, str] = {}
        self._synced: set[str] = set()
        self._next_ticket = 0
        self.counters = {"stale_items": 0, "deltas": 0, "signals": 0, "signals_dropped": 0,
                         "captures_dropped": 0, "skips": 0}
        self.last_error = ""

    def kinds_of(self, resource: str) -> list[str]:
        return [view.kind for view in self.states[resource].views]

    def _observer(self, resource: str) -> Callable[[str, dict[str, Any]], None]:
        def observe(event_type: str, obj: dict[str, Any]) -> None:
            self._queue_signals(self.monitors.observe(resource, event_type, obj))
        return observe

    # -- stepping --------------------------------------------------------------------------
    def step_for(self, resource: str) -> tuple[int, Step] | None:
        if self.outstanding[resource]:
            return None
        held = self.hold_until.get(resource, 0.0) - self.clock()
        if held > 0:
            step = Step(Phase.WAIT, delay_s=held)
        else:
            self.hold_until.pop(resource, None)
            step = self.states[resource].next_step()
        self._next_ticket += 1
        self.outstanding[resource] = self._next_ticket
        return self._next_ticket, step

    def on_io(self, item: WatchIo) -> bool:
        """Apply one raw result; True when its step ended (the resource needs a new step)."""
        state = self.states.get(item.resource)
        if state is None or item.ticket != self.outstanding.get(item.resource):
            self.counters["stale_items"] += 1
            return False
        resource = item.resource
        deltas: list[Delta] = []
        ended = item.what in (PAGE, CLOSED, FAILED, READY)
        if item.what == PAGE:
            deltas = state.on_list_body(item.data)
        elif item.what == LINE:
            if resource in self.ending:
                self.counters["stale_items"] += 1
                return False
            deltas = state.on_watch_line(item.data)
            if state.phase is not Phase.WATCH:      # an ERROR event: the stream is over
                self.ending.add(resource)
        elif item.what == CLOSED and resource not in self.ending:
            state.on_watch_closed()
        elif item.what == FAILED and item.error is not None and resource not in self.ending:
            self._failed(resource, state, item.error)
        if ended:
            self.outstanding[resource] = 0
            self.ending.discard(resource)
        if state.last_problem:
            self.last_error = state.last_problem
        if deltas:
            self.apply(deltas)
        if state.synced and resource not in self._synced:
            self._synced.add(resource)
            self.tracker.mark_synced(self.kinds_of(resource))
        if item.what == PAGE and state.synced and resource in self.skipped:
            del self.skipped[resource]
        return ended

    def _failed(self, resource: str, state: WatchState, error: BaseException) -> None:
        not_served = state.counters["not_served"]
        state.on_failure(error)
        code = error.code if isinstance(error, KubeApiError) else 0
        absent = code == 404 and state.counters["not_served"] > not_served
        if code == 403 or absent:
            reason = "forbidden" if code == 403 else "not served"
            self.skipped[resource] = f"{reason}: {error}"
            self.counters["skips"] += 1
            self.hold_until[resource] = self.clock() + self.recheck_s
            logger.warning("kube resource %s skipped (%s); trying again in %.0fs", resource,
                           self.skipped[resource], self.recheck_s)
            if resource not in self._synced:
                self._synced.add(resource)
                self.tracker.mark_synced(self.kinds_of(resource))

    # -- pipeline --------------------------------------------------------------------------
    def apply(self, deltas: list[Delta]) -> None:
        processed = self.targets.process(deltas)
        self.counters["deltas"] += len(processed)
        self.tracker.apply(processed)
        self.pod_index.update(processed, self.targets.index)

    def tick(self) -> None:
        self._queue_signals(self.monitors.tick())

    def _queue_signals(self, signals: list[Signal]) -> None:
        for signal in signals:
            self.counters["signals"] += 1
            if len(self.signals) >= self.max_signals:
                self.signals.popleft()
                self.counters["signals_dropped"] += 1
            self.signals.append(signal)
            if wants_capture(signal):
                if len(self.captures) >= self.max_signals:
                    self.captures.popleft()
                    self.counters["captures_dropped"] += 1
                self.captures.append(signal)

    def take_signals(self, limit: int) -> list[Signal]:
        return [self.signals.popleft() for _ in range(min(limit, len(self.signals)))]

    def take_captures(self, limit: int) -> list[Signal]:
        return [self.captures.popleft() for _ in range(min(limit, len(self.captures)))]

    # -- status ----------------------------------------------------------------------------
    def status_counters(self) -> dict[str, float]:
        out: dict[str, float] = {f"{k}_total": float(v) for k, v in self.counters.items()}
        totals: collections.Counter[str] = collections.Counter()
        for state in self.states.values():
            totals.update(state.counters)
        out.update({f"watch_{k}_total": float(v) for k, v in totals.items()})
        out.update({f"inventory_{k}_total": float(v) for k, v in self.tracker.counters.items()})
        out.update({k + "_total": float(v) for k, v in self.pod_index.counters.items()})
        out["resources_synced"] = float(sum(s.synced for s in self.states.values()))
        out["resources_skipped"] = float(len(self.skipped))
        out["inventory_objects"] = float(len(self.tracker.store))
        out["inventory_pending"] = float(self.tracker.pending())
        out["signals_pending"] = float(len(self.signals))
        out["monitor_rejected_total"] = float(self.monitors.rejected)
        return out
