"""The synthetic demo: the production process tree moving synthetic records, watched live.

``kestrel-operator demo`` (``lifecycle.demo``) runs ``examples/topology/demo.yaml`` on the real
multiproc TCP base: a source → aggregator (lossy link) → sink (lossless link) pipeline under a
nested supervisor. It prints the status URL, one progress line per second (records moved per
link, drops, restarts), kills the aggregator's process a third of the way in to show a
supervised restart, and ends with a summary table and a clean shutdown within the duration.
It proves the runtime, not the telemetry: the simulated cluster, relay, sidecars, collector and
cloud are driven by ``python -m sim.demo`` once those pieces exist.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import sys
import threading
import time
from typing import TextIO

from actors.runtime import prometheus
from actors.runtime.lifecycle import OperatorProcess
from actors.runtime.topology import load_topology
from messages.runtime import ComponentStatus

__all__ = ["DEMO_TOPOLOGY", "run_demo"]

DEMO_TOPOLOGY = pathlib.Path(__file__).resolve().parents[2] / "examples" / "topology" / "demo.yaml"
CRASH_TARGET = "synthetic_aggregator/demo"


def _components(status: ComponentStatus) -> list[ComponentStatus]:
    found = [status]
    for child in status.children:
        found.extend(_components(child))
    return found


def _restarts(status: ComponentStatus) -> int:
    return sum(node.restarts for node in _components(status))


def _progress_line(elapsed: float, status: ComponentStatus) -> str:
    links = " | ".join(
        f"{link.producer_id.split('/')[0]}→{link.consumer_id.split('/')[0]} "
        f"{link.forwarded:>9,} fwd {link.dropped:>7,} drop {link.in_flight:>5} in flight"
        for link in prometheus.all_links(status))
    return f"[{elapsed:5.1f}s] {links} | restarts {_restarts(status)}"


def _kill(status: ComponentStatus, component_id: str, out: TextIO) -> bool:
    target = next((n for n in _components(status) if n.component_id == component_id), None)
    if target is None or target.pid <= 0 or target.pid == os.getpid():
        return False
    print(f"--- injecting a crash: SIGKILL {component_id} (pid {target.pid})", file=out)
    os.kill(target.pid, signal.SIGKILL)
    return True


def _summary(status: ComponentStatus | None, out: TextIO) -> bool:
    if status is None:
        print("no final status: the actor system did not answer", file=out)
        return False
    print("\ncomponent                      state      restarts  last error", file=out)
    for node in _components(status):
        print(f"{node.component_id:30} {node.state.value:10} {node.restarts:8}  "
              f"{node.last_error[:40]}", file=out)
    print("\nlink                                              received  forwarded  "
          "dropped  in flight  balanced", file=out)
    balanced = True
    for link in prometheus.all_links(status):
        ok = prometheus.link_balanced(link)
        balanced &= ok
        print(f"{link.link_id:48} {link.received:9} {link.forwarded:10} {link.dropped:8} "
              f"{link.in_flight:10}  {'yes' if ok else 'NO'}", file=out)
    return balanced


def run_demo(duration_s: float = 30.0, out: TextIO = sys.stdout,
             stop: threading.Event | None = None) -> int:
    """Run the synthetic demo for ``duration_s`` seconds; 0 when it ran and recovered cleanly."""
    stop = stop or threading.Event()
    topology = load_topology(DEMO_TOPOLOGY)
    # Loopback and a free port: the demo must run beside anything else on the machine.
    operator = dataclasses.replace(topology.operator, status_host="127.0.0.1", status_port=0)
    process = OperatorProcess(dataclasses.replace(topology, operator=operator))
    process.start()
    port = process.server.port if process.server else 0
    print(f"Kestrel Operator demo: status at http://127.0.0.1:{port}/status "
          f"(try: kestrel-operator status --url http://127.0.0.1:{port})", file=out)
    started, crashed, last = time.monotonic(), False, None
    try:
        while not stop.wait(1.0) and (elapsed := time.monotonic() - started) < duration_s:
            status = process.status()
            if status is None:
                print(f"[{elapsed:5.1f}s] (status unavailable)", file=out)
                continue
            last = status
            print(_progress_line(elapsed, status), file=out, flush=True)
            if not crashed and elapsed >= duration_s / 3:
                crashed = _kill(status, CRASH_TARGET, out)
        last = process.status() or last
        balanced = _summary(last, out)
        recovered = last is not None and _restarts(last) >= 1 and all(
            n.state.value == "running" for n in _components(last))
        print(f"\ncrash injected: {'yes' if crashed else 'no'}; restarted and running: "
              f"{'yes' if recovered else 'no'}; every link balanced: "
              f"{'yes' if balanced else 'no'}", file=out)
        return 0 if crashed and recovered and balanced else 1
    finally:
        left = process.stop()
        print(f"shutdown complete; processes left: {len(left)}", file=out)
