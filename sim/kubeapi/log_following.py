"""Serving one pods/log request: the initial text and, with ``follow=true``, live lines.

Owns the request flow around :mod:`sim.kubeapi.logs`: looks the pod up (404), resolves the
container run (400s), renders the existing lines honouring since/tail/timestamps/limitBytes,
and when following keeps emitting new lines as the clock passes until the run terminates (its
ending lines included), the pod disappears, ``limitBytes`` is used up, the server stops, a
fault cuts the stream or the client goes away.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sim.kubeapi import faults, logs, status
from sim.kubeapi.store import ObjectStore
from sim.kubeapi.watching import StreamSink

POLL_S = 0.2
_AFTER = 1e-6  # "strictly after" for the next since-bound


@dataclasses.dataclass(slots=True)
class LogRequest:
    """A resolved log request, ready to render and (maybe) follow."""

    store: ObjectStore
    namespace: str
    name: str
    options: logs.LogOptions
    run: logs.ContainerRun
    interval_s: float
    cursor: float = 0.0
    budget: int | None = None

    @classmethod
    def resolve(cls, store: ObjectStore, namespace: str, name: str, params: dict[str, str],
                interval_s: float) -> LogRequest:
        pod = store.get("pods", namespace, name)
        if pod is None:
            raise status.not_found("pods", "", name)
        options = logs.parse_options(params, name, store.clock())
        run = logs.resolve_run(pod, options.container, options.previous)
        return cls(store, namespace, name, options, run, interval_s,
                   budget=options.limit_bytes)

    @property
    def container(self) -> str:
        return self.options.container or self.run.seed.split("/")[2].split("#")[0]

    def _take(self, data: bytes) -> bytes:
        if self.budget is None:
            return data
        data = data[:self.budget]
        self.budget -= len(data)
        return data

    def initial(self) -> bytes:
        now = self.store.clock()
        since = self.options.since if self.options.since is not None else self.run.started
        lines = self.run.lines(self.interval_s, since, now, self.options.tail)
        self.cursor = now
        return self._take(logs.render(lines, self.options.timestamps))

    @property
    def follows(self) -> bool:
        return (self.options.follow and self.run.finished is None
                and (self.budget is None or self.budget > 0))

    def follow(self, sink: StreamSink, stream: faults.OpenStream,
               stopping: Callable[[], bool], sleep: Callable[[float], None]) -> str:
        """Emit new lines until the run ends; returns why it stopped."""
        while True:
            if stream.pending_fault == faults.DROP:
                sink.abort()
                return "dropped"
            if stopping():
                return "stopping"
            if sink.client_gone():
                return "client-gone"
            now = self.store.clock()
            ended = self._run_ended()
            until = self.run.finished if ended and self.run.finished is not None else now
            lines = self.run.lines(self.interval_s, self.cursor + _AFTER, until, None)
            if ended and until < self.cursor + _AFTER:
                lines = self.run.ending()  # it died before our cursor: only its last words
            self.cursor = max(self.cursor, until)
            if lines:
                sink.write(self._take(logs.render(lines, self.options.timestamps)))
            if ended:
                return "terminated"
            if self.budget is not None and self.budget <= 0:
                return "limit"
            sleep(min(POLL_S, self.interval_s))

    def _run_ended(self) -> bool:
        pod = self.store.get("pods", self.namespace, self.name)
        if pod is None:
            return True
        try:
            current = logs.resolve_run(pod, self.container, previous=False)
        except status.ApiError:
            return True
        if current.seed != self.run.seed:
            # The followed instance was replaced: it ended at the new instance's previous run.
            try:
                previous = logs.resolve_run(pod, self.container, previous=True)
            except status.ApiError:
                return True
            if previous.seed == self.run.seed:
                self.run = previous
            return True
        self.run = current
        return current.finished is not None
