"""``python -m bench metrics_memory``: PSS of the whole operator process tree, metrics store full.

Issue 6's memory goal (≤ 400 MB PSS for the whole operator with a full 100k x 60 store) measured
on the real thing: the demo topology (``sim.demo.topology``: the Helm chart's shape with flows,
Istio and OTel all on — 13 processes, the ring serving OTLP itself; the chart defaults with
only OTel on have one fewer) pointed at the simulated peers (API server, relay, cloud; the
peers live in this process and are not counted). The operator runs as ``kestrel-operator run``
in a subprocess. Steps:
1. wait until ready, let it settle, sum PSS over its tree (idle);
2. fill its metrics store through the real OTLP/gRPC receiver (``sim.otel.bulk``: ``--series``
   series as 2,000 pods x metrics, ``--ring`` cycles 10 s apart);
3. check via ``/status`` that ``metrics_ring/main`` holds exactly series x ring points;
4. sum PSS (``/proc/PID/smaps_rollup``) over every process of the tree; print the breakdown.
The goal is judged in decimal megabytes (400 MB = 400e6 bytes, the stricter reading). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import tempfile
import time
from typing import Any

from sim.demo.operator_process import OperatorUnderTest, component, components
from sim.demo.peers import DemoPeers
from sim.demo.topology import demo_topology
from sim.otel.bulk import BulkOtlpFiller

GOAL_BYTES = 400 * 1000 * 1000
RING_ID = "metrics_ring/main"
PODS = 2000


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss, Pss, Shared and Private bytes of one process (empty if it is gone)."""
    fields: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[name] = int(parts[0]) * 1024
    if not fields:
        return {}
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0),
            "private": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
            "swap_pss": fields.get("SwapPss", 0)}


def _names(operator: OperatorUnderTest, document: dict[str, Any]) -> dict[int, str]:
    names = {int(c["pid"]): str(c["id"]) for c in components(document["root"]) if c.get("pid")}
    if operator.process is not None:
        names[operator.process.pid] = "cli main (status server)"
    return names


def tree_memory(operator: OperatorUnderTest) -> dict[str, Any]:
    """PSS of every process of the tree, by name, and the totals."""
    names = _names(operator, operator.status())
    rows: list[dict[str, Any]] = []
    for pid in sorted(operator.pids()):
        usage = smaps_rollup(pid)
        if usage:
            rows.append({"pid": pid, "name": names.get(pid, "thespian admin/logger"), **usage})
    total = sum(r["pss"] for r in rows)
    return {"processes": len(rows), "pss_total_bytes": total,
            "pss_total_mib": round(total / 2**20, 1),
            "swap_pss_total_bytes": sum(r["swap_pss"] for r in rows),
            "rss_total_mib": round(sum(r["rss"] for r in rows) / 2**20, 1), "rows": rows}


def _print_rows(title: str, memory: dict[str, Any]) -> None:
    print(f"{title}: {memory['processes']} processes, PSS {memory['pss_total_mib']} MiB "
          f"({memory['pss_total_bytes'] / 1e6:.1f} MB)", flush=True)
    for row in sorted(memory["rows"], key=lambda r: -r["pss"]):
        print(f"  {row['pid']:>7} {row['name']:28} PSS {row['pss'] / 2**20:7.1f} MiB  "
              f"private {row['private'] / 2**20:7.1f} MiB  RSS {row['rss'] / 2**20:7.1f} MiB",
              flush=True)


def _ring(document: dict[str, Any]) -> dict[str, Any]:
    counters: dict[str, Any] = component(document, RING_ID)["counters"]
    return counters


def measure(series: int, ring: int, settle_s: float, workdir: pathlib.Path) -> dict[str, Any]:
    """Start peers and operator, measure idle, fill, verify, measure full; always tear down."""
    if series % PODS:
        raise ValueError(f"--series must be a multiple of {PODS}")
    peers = DemoPeers(workdir, scale="medium", churn_per_s=1.0, flows_per_s=200.0).start()
    operator = OperatorUnderTest(workdir, demo_topology(peers, workdir), peers.status_port)
    try:
        operator.start(ready_within_s=90.0, probe="/healthz")
        operator.wait_for(lambda d: d.get("ready") is True, 60, "operator ready")
        time.sleep(settle_s)
        idle = tree_memory(operator)
        _print_rows("idle", idle)
        filler = BulkOtlpFiller(f"127.0.0.1:{peers.otlp_port}", pods=PODS,
                                metrics_per_pod=series // PODS, rounds=ring)
        report = filler.fill(deadline_s=900.0)
        expected_points = series * ring
        document = operator.wait_for(
            lambda d: _ring(d).get("points", 0) >= expected_points, 300,
            f"{RING_ID} holding {expected_points} points")
        time.sleep(settle_s)
        document = operator.status()
        counters = _ring(document)
        full = tree_memory(operator)
        _print_rows("full store", full)
        verified = int(counters["series"]) == series and \
            int(counters["points"]) == expected_points
        return {"topology": "sim.demo.topology (chart shape: flows, istio, otel on)",
                "fill": {"requests": report.requests, "points_sent": report.points,
                         "points_rejected": report.rejected,
                         "backpressure_retries": report.retries,
                         "seconds": round(report.seconds, 1),
                         "points_per_s": round(report.points / report.seconds)},
                "store": {"series": int(counters["series"]), "points": int(counters["points"]),
                          "accounted_bytes": int(counters["memory_bytes"]),
                          "verified": verified},
                "idle": idle, "full": full}
    finally:
        with contextlib.suppress(Exception):
            operator.terminate(within_s=40.0)
        operator.kill_everything()
        peers.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench metrics_memory")
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--ring", type=int, default=60)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before measuring")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kestrel-metrics-memory-") as tmp:
        figures = measure(args.series, args.ring, args.settle, pathlib.Path(tmp))
    total = int(figures["full"]["pss_total_bytes"])
    for phase in ("idle", "full"):
        figures[phase]["rows"] = {f"{r['name']} ({r['pid']})": round(r["pss"] / 2**20, 1)
                                  for r in figures[phase]["rows"]}
    result = {"bench": "metrics_memory", "ratio": round(total / GOAL_BYTES, 3),
              "goal": "<= 1.0 (operator tree PSS with a full store ÷ 400 MB)",
              "pss_total_mb": round(total / 1e6, 1),
              "pss_total_mib": figures["full"]["pss_total_mib"],
              "goal_met": bool(figures["store"]["verified"]) and total <= GOAL_BYTES,
              **figures, "loadavg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    print(json.dumps(result))
    return 0 if figures["store"]["verified"] else 1
