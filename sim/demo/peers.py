"""``DemoPeers``: every simulated peer of the operator, started and stopped together.

Owns the simulated API server (a generated cluster plus churn), the Hubble Relay (synthetic
flows at a fixed rate), Kestrel Cloud (token endpoint + stream server + PKI), and — once the
operator listens — the traffic drivers: Envoy sidecars replaying the golden ALS streams in
rounds, and the OpenTelemetry SDK exporter. Every server binds 127.0.0.1 on a free port; the
ports the operator must open (ALS, OTLP, status) are chosen here too. ``stop()`` is safe to call
twice and after a failed start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import threading

from sim.cloud.cloud import SimulatedCloud
from sim.demo.operator_process import free_port
from sim.envoy.sidecars import run_sidecars
from sim.envoy.streams import count_entries, fixture_stream, replay_stream
from sim.hubble.flow_source import FlowSequence
from sim.hubble.history import build_sequence
from sim.hubble.relay import RelaySimulator
from sim.kubeapi import Churn, KubeApiServer, generate_cluster
from sim.otel.driver import OtelMetricsDriver

__all__ = ["DemoPeers", "free_port"]

logger = logging.getLogger(__name__)


class DemoPeers:
    """The simulated cluster, relay, cloud, sidecars and collector for one demo run."""

    def __init__(self, workdir: pathlib.Path, *, scale: str = "medium", churn_per_s: float = 2.0,
                 flows_per_s: float = 1000.0, flow_replay_loops: int = 0, sidecars: int = 20,
                 sidecar_rounds: int = 0) -> None:
        """``flow_replay_loops`` > 0 replays the golden Hubble frames that many times (a known
        total) instead of an hour of synthetic flows; ``sidecar_rounds`` > 0 stops the sidecars
        after that many rounds; ``churn_per_s`` 0 leaves the cluster to scripted changes."""
        self.workdir = workdir
        self.scale = scale
        self.churn_per_s = churn_per_s
        self.flows_per_s = flows_per_s
        self.flow_replay_loops = flow_replay_loops
        self.sidecars = sidecars
        self.sidecar_rounds = sidecar_rounds
        self.als_port, self.otlp_port, self.status_port = free_port(), free_port(), free_port()
        self.kube: KubeApiServer | None = None
        self.churn: Churn | None = None
        self.relay: RelaySimulator | None = None
        self.relay_port = 0
        self.cloud: SimulatedCloud | None = None
        self.otel: OtelMetricsDriver | None = None
        self.kube_files = workdir / "serviceaccount"
        self.flow_history: FlowSequence | None = None
        self.als_entries_sent = 0
        self.als_streams_failed = 0
        self._stop = threading.Event()
        self._envoy: threading.Thread | None = None

    def start(self) -> DemoPeers:
        self.kube = KubeApiServer(generate_cluster(self.scale, seed=1),
                                  workdir=self.workdir / "kube")
        self.kube.start()
        self.kube.write_in_cluster_files(self.kube_files, token=self.kube.tokens.admin)
        self.churn = Churn(self.kube.store, rate_per_s=max(self.churn_per_s, 0.1), seed=2)
        if self.churn_per_s > 0:
            self.churn.start()
        if self.flow_replay_loops:
            self.flow_history = build_sequence("replay", loops=self.flow_replay_loops,
                                               rate=self.flows_per_s)
        else:   # an hour of flows at the rate: the relay follows the clock, never runs dry
            self.flow_history = build_sequence("synthetic", rate=self.flows_per_s, nodes=6,
                                               total=int(self.flows_per_s * 3600))
        self.relay = RelaySimulator(self.flow_history)
        self.relay_port = self.relay.start()
        self.cloud = SimulatedCloud(self.workdir / "cloud", token_ttl_s=600.0).start()
        return self

    def start_traffic(self) -> None:
        """Sidecars and the OTel exporter: only once the operator's receivers listen."""
        self.otel = OtelMetricsDriver(f"127.0.0.1:{self.otlp_port}", interval_s=2.0).start()
        self._envoy = threading.Thread(target=self._envoy_rounds, name="demo-envoy", daemon=True)
        self._envoy.start()

    def _envoy_rounds(self) -> None:
        http, tcp = fixture_stream("http"), fixture_stream("tcp")
        round_number = 0
        while not self._stop.wait(1.0):
            if self.sidecar_rounds and round_number >= self.sidecar_rounds:
                return
            streams = [replay_stream(http if i % 2 == 0 else tcp, round_number * 1000 + i)
                       for i in range(self.sidecars)]
            try:
                report = asyncio.run(run_sidecars(f"127.0.0.1:{self.als_port}", streams,
                                                  timeout=20.0))
            except Exception:  # a demo driver must not die with the receiver
                logger.warning("sidecar round failed", exc_info=True)
                continue
            self.als_streams_failed += report.streams_failed
            if not report.streams_failed:
                self.als_entries_sent += sum(count_entries(s) for s in streams)
            round_number += 1

    def stop_traffic(self) -> None:
        self._stop.set()
        if self._envoy is not None:
            self._envoy.join(30)
        if self.otel is not None:
            self.otel.stop()
        if self.churn is not None and self.churn_per_s > 0:
            self.churn.stop()

    def stop(self) -> None:
        self.stop_traffic()
        for closer in (self.relay and self.relay.stop, self.cloud and self.cloud.close,
                       self.kube and self.kube.stop):
            if closer:
                with contextlib.suppress(Exception):
                    closer()
        self.relay, self.cloud, self.kube = None, None, None
