"""The demo's timeline: peers up, operator up, live progress, an outage, a crash, commands.

``run_scenario`` starts ``DemoPeers``, writes the topology, starts the real operator as a
subprocess, then prints one progress line every ``tick_s`` (inventory sync, records/s per
source as the cloud receives them, the acked position, drops and restarts from the operator's
``/status``). A third of the way in the cloud goes away for ``outage_s``; after it recovers an
actor process is SIGKILLed; then the cloud sends a Kubernetes GET, a shell injection (refused)
and a metrics query, and the answers are printed. At the end traffic stops, the cloud catches
up, the summary table is printed and the operator gets SIGTERM. Returns a ``DemoResult``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import signal
import subprocess
import time
from typing import Any, TextIO

from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb
from sim.demo.cloud_view import SOURCES, CloudView
from sim.demo.operator_process import OperatorUnderTest, component, components
from sim.demo.peers import DemoPeers
from sim.demo.topology import demo_topology

__all__ = ["DemoResult", "run_scenario"]

CRASH_TARGET = "hubble_flows/shard-0"


@dataclasses.dataclass
class DemoResult:
    """What the summary table shows, for the caller (and the end-to-end test) to check."""

    totals: dict[str, int] = dataclasses.field(default_factory=dict)
    restarts: dict[str, int] = dataclasses.field(default_factory=dict)
    lossless_gaps: int = -1
    conservation_ok: bool = False
    outage_recovered: bool = False
    crash_restarted: bool = False
    answers: dict[str, str] = dataclasses.field(default_factory=dict)
    exit_code: int | None = None
    left_processes: int = -1

    @property
    def ok(self) -> bool:
        traffic = all(self.totals.get(kind, 0) > 0 for kind in SOURCES)
        return (traffic and self.lossless_gaps == 0 and self.conservation_ok
                and self.outage_recovered and self.crash_restarted and self.exit_code == 0
                and self.left_processes == 0)


def _restarts(document: dict[str, Any]) -> dict[str, int]:
    return {str(c["id"]): int(c["restarts"]) for c in components(document["root"])}


def _drops(document: dict[str, Any]) -> int:
    return sum(int(link["dropped"]) for link in document["links"])


def _progress(elapsed: float, view: CloudView, document: dict[str, Any] | None) -> str:
    totals, rates = view.rates()
    per_source = " ".join(f"{view.short(k)} {rates[k]:7.0f}/s" for k in SOURCES)
    line = (f"[{elapsed:5.1f}s] inventory {totals.get('RECORD_KIND_INVENTORY', 0):6} "
            f"(commits {totals.get('commits', 0)}) | {per_source} | acked #{totals['acked']}")
    if document is not None:
        line += (f" | drops {_drops(document)} | restarts "
                 f"{sum(_restarts(document).values())}")
    return line


def _send_commands(view: CloudView, out: TextIO) -> dict[str, str]:
    view.send("demo-k8s-get", k8s_request=pb.K8sRequest(
        method="GET", path="/api/v1/namespaces/kube-system/pods", query={"limit": "3"}))
    view.send("demo-shell-injection",
              shell=pb.ShellRequest(command="kubectl get pods; cat /etc/shadow"))
    view.send("demo-metrics", metrics_query=pb.MetricsQuery(
        namespace="shop", workload_kind="Deployment", workload_name="cart",
        metric_names=["http.server.requests"], function="increase", aggregation="sum",
        by=["workload"]))
    answers = {}
    for request_id in ("demo-k8s-get", "demo-shell-injection", "demo-metrics"):
        answers[request_id] = view.describe(view.wait(request_id))
        print(f"    {request_id:22} → {answers[request_id]}", file=out, flush=True)
    return answers


def run_scenario(workdir: pathlib.Path, out: TextIO, *, duration_s: float = 90.0,
                 outage_s: float = 10.0, tick_s: float = 2.0, scale: str = "medium") -> DemoResult:
    result = DemoResult()
    peers = DemoPeers(workdir, scale=scale).start()
    operator = OperatorUnderTest(workdir, demo_topology(peers, workdir), peers.status_port)
    try:
        operator.start(ready_within_s=60.0, probe="/healthz")
        peers.start_traffic()
        print(f"operator status: {operator.url}/status  "
              f"(kestrel-operator status --url {operator.url})", file=out, flush=True)
        if peers.cloud is None:
            raise RuntimeError("the simulated cloud did not start")
        view = CloudView(peers.cloud)
        started = time.monotonic()
        outage_at, crash_at = duration_s / 4, duration_s / 2
        commands_at, wind_down_at = duration_s * 0.62, duration_s - 15.0
        done: set[str] = set()
        while (elapsed := time.monotonic() - started) < wind_down_at:
            document = None
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                document = operator.status()
            print(_progress(elapsed, view, document), file=out, flush=True)
            if elapsed >= outage_at and "outage" not in done:
                done.add("outage")
                print(f"--- cloud outage: Kestrel Cloud goes away for {outage_s:.0f}s",
                      file=out, flush=True)
                peers.cloud.stream.go_away(outage_s)
            if elapsed >= crash_at and "crash" not in done and document is not None:
                done.add("crash")
                pid = int(component(document, CRASH_TARGET)["pid"])
                print(f"--- actor crash: SIGKILL {CRASH_TARGET} (pid {pid})", file=out,
                      flush=True)
                os.kill(pid, signal.SIGKILL)
            if elapsed >= commands_at and "commands" not in done:
                done.add("commands")
                print("--- commands from the cloud's agents:", file=out, flush=True)
                result.answers = _send_commands(view, out)
            time.sleep(tick_s)
        peers.stop_traffic()
        _settle(operator, view, out)
        _summarize(result, operator, view, out)
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired, RuntimeError):
            result.exit_code = operator.terminate(within_s=40.0)
        operator.kill_everything()
        result.left_processes = len(operator.pids())
        peers.stop()
    print(f"operator exit code {result.exit_code}; processes left: {result.left_processes}",
          file=out, flush=True)
    return result


def _settle(operator: OperatorUnderTest, view: CloudView, out: TextIO) -> None:
    """Wait (bounded) until the cloud has acknowledged everything the operator sent."""
    print("--- traffic stopped; waiting for the cloud to catch up", file=out, flush=True)
    deadline, previous = time.monotonic() + 15.0, -1
    while time.monotonic() < deadline:
        acked = view.totals()["acked"]
        if acked == previous:
            return
        previous = acked
        time.sleep(2.0)


def _summarize(result: DemoResult, operator: OperatorUnderTest, view: CloudView,
               out: TextIO) -> None:
    document = operator.status()
    result.totals = view.totals()
    result.restarts = _restarts(document)
    result.conservation_ok = bool(document["conservation_ok"])
    recorder = view.cloud.recorder
    with recorder.lock:
        reliable = set(recorder.reliable)
        top = max(reliable, default=0)
        result.lossless_gaps = top - len(reliable)
    result.outage_recovered = view.cloud.stream.stats.get("go_aways", 0) >= 1 and \
        component(document, "cloud_uplink/main")["counters"].get("connected") == 1
    result.crash_restarted = result.restarts.get(CRASH_TARGET, 0) >= 1 and \
        component(document, CRASH_TARGET)["state"] == "running"
    print("\n source      records at the cloud", file=out)
    for kind in SOURCES:
        print(f" {view.short(kind):10} {result.totals.get(kind, 0):>12,}", file=out)
    print(f" acked through sequence #{result.totals['acked']}; lossless sequence gaps: "
          f"{result.lossless_gaps}; inventory commits: {result.totals['commits']}", file=out)
    print(f" drops (lossy, counted): {_drops(document)}; conservation on every link: "
          f"{'yes' if result.conservation_ok else 'NO'}", file=out)
    print(f" outage recovered: {'yes' if result.outage_recovered else 'NO'}; "
          f"{CRASH_TARGET} restarted: {'yes' if result.crash_restarted else 'NO'} "
          f"(restarts {result.restarts.get(CRASH_TARGET, 0)})", file=out, flush=True)
