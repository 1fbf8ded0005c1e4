"""Keeps one Hubble Relay stream alive: discover, stream, and discover again when it stays down.

Owns the collector's I/O thread. It resolves the relay (``relay_resolution.resolve_relay``: the
explicit address, else the hubble-relay Service through the Kubernetes API, TLS material from
files or Secrets), then runs a ``HubbleFlowClient`` whose sink is the caller's non-blocking
``offer``. A discovery or TLS-material failure is recorded as ``last_error``, counted
(``discovery_failures``) and retried after a jittered backoff: never a plaintext fallback and
never "off until restart". A discovered target that has not streamed for ``rediscover_after_s``
(a moved Service, a rotated CA) is dropped and discovered again. Counters of replaced clients
are kept, so every reported counter only grows. ``stop()`` stops the client and joins.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from actors.flows.hubble_client_adapter import FlowBatch, HubbleFlowClient
from actors.flows.relay_discovery import RelayService, RelayTarget
from actors.flows.relay_lookup_adapter import secret_lookup, service_lookup
from actors.flows.relay_resolution import needs_kubernetes_api, resolve_relay
from actors.flows.settings import FlowSettings
from actors.kube.api_connection import ApiConnection
from actors.runtime.backoff import Backoff

__all__ = ["RelayConnector"]

logger = logging.getLogger(__name__)
_WATCH_S = 0.5          # how often the thread looks at its client
_LOG_EVERY = 20         # a repeated discovery error is logged once per this many failures


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


class RelayConnector:
    """Discovery + ``HubbleFlowClient`` in one daemon thread; ``stats()`` from any thread."""

    def __init__(self, settings: FlowSettings, sink: Callable[[FlowBatch], bool], *,
                 client_secret: str = "", api_settings: Mapping[str, Any] | None = None,
                 rediscover_after_s: float = 120.0,
                 api_factory: Callable[[], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.sink = sink
        self.client_secret = client_secret
        self.rediscover_after_s = rediscover_after_s
        self._api_settings = dict(api_settings or {})
        self._api_factory = api_factory
        self._api: Any = None
        self._clock = clock
        self._backoff = Backoff(min_s=settings.reconnect_min_s, max_s=settings.reconnect_max_s,
                                reset_after_s=settings.reconnect_reset_after_s, clock=clock)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._retired: collections.Counter[str] = collections.Counter()
        self.counters: collections.Counter[str] = collections.Counter()
        self.client: HubbleFlowClient | None = None
        self.target: RelayTarget | None = None
        self.discovery_error = ""

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hubble-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            client = self.client
        if client is not None:
            client.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

    # -- what the actor reads --------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        client = self.client
        return client is not None and client.streaming

    @property
    def last_error(self) -> str:
        """The discovery error, else the stream's last error ("" when none)."""
        client = self.client
        if self.discovery_error or client is None:
            return self.discovery_error
        return "" if client.streaming else client.last_error

    def flush_pending(self) -> None:
        client = self.client
        if client is not None:
            client.flush_pending()

    def stats(self) -> dict[str, int]:
        """Client counters summed over every client this connector ran, plus its own."""
        with self._lock:
            merged = collections.Counter(self._retired)
            client = self.client
        if client is not None:
            merged.update(client.stats())
        merged.update(self.counters)
        return dict(merged)

    # -- the thread ------------------------------------------------------------------------
    def _lookups(self) -> tuple[Callable[[str, str], RelayService | None],
                                Callable[[str, str], Mapping[str, bytes] | None]]:
        if self._api is None:
            factory = self._api_factory or (
                lambda: ApiConnection.from_settings(self._api_settings).adapter())
            self._api = factory()
        return service_lookup(self._api), secret_lookup(self._api)

    def _resolve(self) -> RelayTarget:
        if needs_kubernetes_api(self.settings, self.client_secret):
            get_service, get_secret = self._lookups()
        else:
            def get_service(namespace: str, name: str) -> RelayService | None:
                return None

            def get_secret(namespace: str, name: str) -> Mapping[str, bytes] | None:
                return None
        return resolve_relay(self.settings, self.client_secret, get_service, get_secret,
                             _read_file)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                target = self._resolve()
            except Exception as exc:  # noqa: BLE001 - discovery, API and file errors alike
                error = f"relay discovery failed: {exc}"[:500]
                self.counters["discovery_failures"] += 1
                if error != self.discovery_error or \
                        self.counters["discovery_failures"] % _LOG_EVERY == 0:
                    logger.warning("hubble relay: %s (%d failures so far)", error,
                                   self.counters["discovery_failures"])
                self.discovery_error = error
                self._stop.wait(self._backoff.next_delay())
                continue
            self.discovery_error = ""
            self.counters["discoveries"] += 1
            self.target = target
            logger.info("hubble relay target %s (%s)", target.address, target.reason)
            self._stream(target)

    def _stream(self, target: RelayTarget) -> None:
        client = HubbleFlowClient(target, self.settings, self.sink, clock=self._clock)
        with self._lock:
            if self._stop.is_set():
                return
            self.client = client
        client.start()
        last_up = self._clock()
        explicit = bool(self.settings.relay_address) and (
            target.tls is None or bool(self.settings.tls_ca_file))
        while not self._stop.wait(_WATCH_S):
            if client.streaming:
                last_up = self._clock()
                self._backoff.healthy()
            elif not explicit and self._clock() - last_up >= self.rediscover_after_s:
                self.counters["rediscoveries"] += 1
                logger.warning("hubble relay %s not streaming for %.0fs (%s): discovering "
                               "again", target.address, self.rediscover_after_s,
                               client.last_error)
                break
        client.stop()
        with self._lock:
            self._retired.update(client.stats())
            self.client = None
        if not self._stop.is_set():
            self._stop.wait(self._backoff.next_delay())
