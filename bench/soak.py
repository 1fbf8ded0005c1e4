"""``python -m bench soak --minutes N``: every source at demo rates, periodic faults, memory.

Runs the real operator (``kestrel-operator run``, production process tree) against every
simulated peer (``sim.demo``) for N minutes. Every ``--fault-every`` seconds a fault is injected,
in turn: a cloud outage, a SIGKILL of a data actor, dropped cloud streams. Every ``--sample``
seconds it prints the operator's memory (PSS summed over its whole process tree), records at
the cloud per source, drops and restarts. At the end: memory at start of the measured period
(after warm-up), middle and end, totals, and losses (lossless sequence gaps must be 0).
Not part of ``python -m bench all``. Last line: JSON with ``ratio`` = end PSS ÷ post-warm-up
PSS (goal ≤ 1.15: flat memory) and the raw figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import signal
import tempfile
import time
from typing import Any

from sim.demo.cloud_view import SOURCES, CloudView
from sim.demo.operator_process import OperatorUnderTest, component, components
from sim.demo.peers import DemoPeers
from sim.demo.topology import demo_topology

GOAL = 1.15
KILL_TARGETS = ("hubble_flows/shard-0", "envoy_als/main", "kube_watcher/main",
                "metrics_ring/main", "pod_logs/main")


def tree_pss_bytes(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
    return total


def _inject(fault: int, peers: DemoPeers, operator: OperatorUnderTest) -> str:
    assert peers.cloud is not None
    kind = fault % 3
    if kind == 0:
        peers.cloud.stream.go_away(10.0)
        return "cloud outage 10s"
    if kind == 1:
        target = KILL_TARGETS[(fault // 3) % len(KILL_TARGETS)]
        os.kill(operator.component_pid(target), signal.SIGKILL)
        return f"SIGKILL {target}"
    peers.cloud.stream.drop_streams()
    return "cloud dropped its streams"


def soak(workdir: pathlib.Path, minutes: float, fault_every_s: float, sample_s: float,
         warmup_s: float, scale: str) -> dict[str, Any]:
    peers = DemoPeers(workdir, scale=scale).start()
    operator = OperatorUnderTest(workdir, demo_topology(peers, workdir), peers.status_port)
    samples: list[tuple[float, int]] = []
    faults: list[str] = []
    try:
        operator.start(ready_within_s=90.0, probe="/healthz")
        peers.start_traffic()
        assert peers.cloud is not None
        view = CloudView(peers.cloud)
        started = time.monotonic()
        next_fault, next_sample = started + fault_every_s, started
        while (now := time.monotonic()) - started < minutes * 60:
            if now >= next_fault:
                with contextlib.suppress(Exception):   # a soak reports, it does not stop
                    faults.append(_inject(len(faults), peers, operator))
                    print(f"[{now - started:7.1f}s] fault: {faults[-1]}", flush=True)
                next_fault += fault_every_s
            if now >= next_sample:
                pss = tree_pss_bytes(operator.pids())
                samples.append((now - started, pss))
                totals = view.totals()
                document = operator.status()
                restarts = sum(int(c["restarts"]) for c in components(document["root"]))
                drops = sum(int(link["dropped"]) for link in document["links"])
                flows = component(document, "hubble_flows/shard-0")
                flow_state = (f"streaming {flows['counters'].get('streaming', 0):.0f} received "
                              f"{flows['counters'].get('flows_received_total', 0):.0f} "
                              f"{flows['state']} {flows['last_error'][:60]}")
                print(f"[{now - started:7.1f}s] PSS {pss / 2**20:7.1f} MiB | "
                      + " ".join(f"{view.short(k)} {totals.get(k, 0):>9}" for k in SOURCES)
                      + f" | acked #{totals['acked']} | drops {drops} | restarts {restarts}"
                      + f" | flow collector {flow_state}", flush=True)
                next_sample += sample_s
            time.sleep(1.0)
        peers.stop_traffic()
        time.sleep(10.0)
        document = operator.status()
        recorder = peers.cloud.recorder
        with recorder.lock:
            reliable = set(recorder.reliable)
        uplink = component(document, "cloud_uplink/main")["counters"]
        measured = [pss for t, pss in samples if t >= warmup_s] or [pss for _, pss in samples]
        return {
            "minutes": minutes, "faults": len(faults), "pss_start_mib": measured[0] / 2**20,
            "pss_middle_mib": measured[len(measured) // 2] / 2**20,
            "pss_end_mib": measured[-1] / 2**20, "pss_max_mib": max(measured) / 2**20,
            "records": {view.short(k): v for k, v in view.totals().items() if k in SOURCES},
            "lossless_gaps": (max(reliable, default=0) - len(reliable)),
            "lossy_dropped_records": uplink.get("lossy_dropped_records_total", 0),
            "link_drops": sum(int(link["dropped"]) for link in document["links"]),
            "restarts": sum(int(c["restarts"]) for c in components(document["root"])),
            "conservation_ok": document["conservation_ok"],
        }
    finally:
        with contextlib.suppress(Exception):
            operator.terminate(within_s=40.0)
        operator.kill_everything()
        peers.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds")
    parser.add_argument("--scale", choices=("small", "medium", "large"), default="medium")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kestrel-soak-") as tmp:
        result = soak(pathlib.Path(tmp), args.minutes, args.fault_every, args.sample,
                      min(args.warmup, args.minutes * 30), args.scale)
    ratio = result["pss_end_mib"] / max(1e-9, result["pss_start_mib"])
    print(f"PSS after warm-up {result['pss_start_mib']:.1f} MiB, middle "
          f"{result['pss_middle_mib']:.1f}, end {result['pss_end_mib']:.1f}; faults "
          f"{result['faults']}; restarts {result['restarts']}; lossless gaps "
          f"{result['lossless_gaps']}; lossy drops {result['lossy_dropped_records']}")
    print(json.dumps({"bench": "soak", "ratio": round(ratio, 3), "goal": GOAL,
                      "goal_met": ratio <= GOAL and result["lossless_gaps"] == 0,
                      **{k: (round(v, 1) if isinstance(v, float) else v)
                         for k, v in result.items()}}))
    return 0 if result["lossless_gaps"] == 0 and result["conservation_ok"] else 1
