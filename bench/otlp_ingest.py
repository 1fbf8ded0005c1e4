"""``python -m bench otlp_ingest``: OTLP decode+store throughput vs upb parsing, store memory,
query latency.

1. Ingest: steady-state export cycles (same series every cycle, new timestamps and values, as
   an SDK or Collector sends them) of five request shapes (E: a Collector's batches, each a
   different shuffled subset of 200 pods — composed from per-resource templates); points/s through
   ``decode_export_request`` + ``RingStore.ingest`` ÷ points/s of ``FromString`` alone on the same
   bodies in the same run (ratio goal ≥ 0.25). First cycles (series creation) are reported
   separately.
2. Memory: a full store (``--series`` × ring 60) filled through ``RingStore.ingest``; the store's
   own accounting and this process's RSS/PSS delta. The issue's goal (≤ 400 MB PSS summed over
   the whole operator process tree) is measured by ``python -m bench metrics_memory`` on the
   real operator; ``--tree`` runs it too and puts its figures under ``operator_tree``.
3. Query: p50/p99 of workload-scoped 30-minute queries (raw, and rate summed by pod) on that full
   store (goal p99 ≤ 20 ms).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import random
import tempfile
import time

import numpy as np
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2

from actors.metrics.decoded import DecodedMetrics
from actors.metrics.otlp_codec import OtlpDecoder
from actors.metrics.query import run_query
from actors.metrics.ring_store import RingStore
from actors.metrics.series import MetricKind, SeriesIdentity, SeriesMeta, Temporality
from messages.metrics import MetricsQueryRequested

SEC = 1_000_000_000
T0 = 1_800_000_000 * SEC


def _resource(rm: object, i: int) -> None:
    attrs = (("k8s.cluster.name", "prod"), ("k8s.namespace.name", f"ns{i % 7}"),
             ("k8s.pod.name", f"app{i}-7d9f8c6b5-x2x4z"), ("k8s.deployment.name", f"app{i}"),
             ("k8s.node.name", "node-1"), ("k8s.container.name", "app"),
             ("service.name", f"app{i}"), ("service.instance.id", f"id{i}"))
    for key, value in attrs:
        rm.resource.attributes.add(key=key).value.string_value = value  # type: ignore[attr-defined]


def _shape(name: str, cycle: int, rng: random.Random) -> bytes:
    req = ExportMetricsServiceRequest()
    t = T0 + cycle * 10 * SEC
    if name == "A_gauges_1res_20x50_3attrs":
        rm = req.resource_metrics.add()
        _resource(rm, 0)
        sm = rm.scope_metrics.add()
        for m in range(20):
            metric = sm.metrics.add(name=f"gauge.{m}")
            for s in range(50):
                dp = metric.gauge.data_points.add(time_unix_nano=t, as_double=rng.random())
                for k in range(3):
                    dp.attributes.add(key=f"k{k}").value.string_value = f"v{s}.{k}"
    elif name == "B_sums_100res_10x1":
        for r in range(100):
            rm = req.resource_metrics.add()
            _resource(rm, r)
            sm = rm.scope_metrics.add()
            for m in range(10):
                metric = sm.metrics.add(name=f"sum.{m}")
                metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                metric.sum.is_monotonic = True
                metric.sum.data_points.add(time_unix_nano=t, start_time_unix_nano=T0,
                                           as_int=cycle * 100 + rng.randrange(100))
    elif name == "C_histograms_1res_1000x12":
        rm = req.resource_metrics.add()
        _resource(rm, 0)
        metric = rm.scope_metrics.add().metrics.add(name="latency")
        metric.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        bounds = [0.005 * 2**i for i in range(11)]
        for s in range(1000):
            counts = [rng.randrange(50) + cycle for _ in range(12)]
            hdp = metric.histogram.data_points.add(
                time_unix_nano=t, start_time_unix_nano=T0, count=sum(counts),
                sum=rng.random() * 100, explicit_bounds=bounds, bucket_counts=counts)
            hdp.attributes.add(key="route").value.string_value = f"/r{s}"
    elif name.startswith("E_collector_batches"):
        pods = list(range(200))
        if cycle >= 2:                    # after two full exports: shuffled partial batches
            rng.shuffle(pods)
            pods = pods[:50]
        for r in pods:
            rm = req.resource_metrics.add()
            _resource(rm, r)
            sm = rm.scope_metrics.add()
            for m in range(10):
                metric = sm.metrics.add(name=f"sum.{m}")
                metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                metric.sum.is_monotonic = True
                metric.sum.data_points.add(time_unix_nano=t, start_time_unix_nano=T0,
                                           as_int=cycle * 100 + rng.randrange(100))
    return req.SerializeToString()


def _large_fixture_cycles(cycles: int) -> list[bytes]:
    path = (pathlib.Path(__file__).resolve().parent.parent / ".." / "shared" / "fixtures"
            / "otlp" / "large-10k-points.bin")
    if not path.exists():
        return []
    body = path.read_bytes()[4:]
    out = []
    for c in range(cycles):
        req = ExportMetricsServiceRequest.FromString(body)
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    data = getattr(metric, str(metric.WhichOneof("data")))
                    for dp in data.data_points:
                        dp.time_unix_nano += c * 10 * SEC
        out.append(req.SerializeToString())
    return out


def _points(body: bytes) -> int:
    req = ExportMetricsServiceRequest.FromString(body)
    total = 0
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                total += len(getattr(m, str(m.WhichOneof("data"))).data_points)
    return total


def _best(fn: object, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()  # type: ignore[operator]
        best = min(best, time.process_time() - start)
    return best


def _timed_ingest(bodies: list[bytes], warm: list[bytes], templates: bool,
                  repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        store = RingStore(ring_size=60, max_series=100_000, retention_ns=10**18,
                          clock_ns=lambda: T0 + 10**6 * SEC)
        decoder = OtlpDecoder(templates=templates)
        for body in warm:
            store.ingest(decoder.decode(body))
        start = time.process_time()
        for body in bodies:
            store.ingest(decoder.decode(body))
        best = min(best, time.process_time() - start)
    return best


def ingest_ratio(cycles: int, repeats: int) -> dict[str, object]:
    """Per shape: steady cycles (after 2 warm-up cycles that create the series and teach the
    layout) through the receiver's decoder + store, vs FromString of the same bodies."""
    rng = random.Random(7)
    shapes = {n: [_shape(n, c, rng) for c in range(cycles + 2)] for n in (
        "A_gauges_1res_20x50_3attrs", "B_sums_100res_10x1", "C_histograms_1res_1000x12",
        "E_collector_batches_50_of_200res_shuffled")}
    large = _large_fixture_cycles(cycles + 2)
    if large:
        shapes["D_fixture_large_10k"] = large
    figures: dict[str, object] = {}
    totals = {"parse": 0.0, "store": 0.0, "upb_path": 0.0, "points": 0.0}
    for name, bodies in shapes.items():
        warm, steady = bodies[:2], bodies[2:]
        points = sum(_points(b) for b in steady)
        parse_s = _best(lambda s=steady: [ExportMetricsServiceRequest.FromString(b) for b in s],
                        repeats)
        store_s = _timed_ingest(steady, warm, True, repeats)
        upb_s = _timed_ingest(steady, warm, False, repeats)
        first_s = _timed_ingest(bodies[:1], [], False, 1)
        figures[name] = {"points": points, "parse_points_per_s": round(points / parse_s),
                         "store_points_per_s": round(points / store_s),
                         "ratio": round(parse_s / store_s, 3),
                         "upb_path_points_per_s": round(points / upb_s),
                         "upb_path_ratio": round(parse_s / upb_s, 3),
                         "first_cycle_points_per_s": round(_points(bodies[0]) / first_s)}
        for key, value in (("parse", parse_s), ("store", store_s), ("upb_path", upb_s),
                           ("points", points)):
            totals[key] += value
    figures["overall_ratio"] = round(totals["parse"] / totals["store"], 3)
    figures["overall_upb_path_ratio"] = round(totals["parse"] / totals["upb_path"], 3)
    figures["overall_store_points_per_s"] = round(totals["points"] / totals["store"])
    return figures


def _rss_pss() -> tuple[int, int]:
    rss = pss = 0
    try:
        for line in pathlib.Path("/proc/self/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def _numbers_batch(identities: list[SeriesIdentity], metas: list[SeriesMeta], t: int,
                   values: np.ndarray) -> DecodedMetrics:
    n = len(identities)
    empty_f, empty_i = np.zeros(0), np.zeros(0, dtype=np.int64)
    return DecodedMetrics(
        identities=identities, metas=metas, series=np.arange(n, dtype=np.int32),
        time_ns=np.full(n, t, dtype=np.int64), start_ns=np.full(n, T0, dtype=np.int64),
        value=values, hist_rows=empty_i, hist_count=empty_f, hist_min=empty_f,
        hist_max=empty_f, hist_bounds=[], hist_bounds_id=empty_i,
        hist_offsets=np.zeros(1, dtype=np.int64),
        hist_buckets=empty_f, extra_rows=[], extra=[], points_seen=n)


def full_store(series: int, ring: int, queries: int) -> dict[str, object]:
    rss0, pss0 = _rss_pss()
    namespaces, workloads_per_ns, pods_per_workload = 10, 50, 4
    metrics = max(1, series // (namespaces * workloads_per_ns * pods_per_workload))
    identities, metas = [], []
    counter_meta = SeriesMeta(temporality=Temporality.CUMULATIVE, monotonic=True, unit="1")
    for ns in range(namespaces):
        for w in range(workloads_per_ns):
            for p in range(pods_per_workload):
                for m in range(metrics):
                    identities.append(SeriesIdentity(
                        f"metric.{m}", MetricKind.SUM, f"ns{ns}", f"wl{w}-7d9f8c6b5-p{p}",
                        "app", f"node-{p}", "Deployment", f"wl{w}",
                        (("route", f"/r{m % 5}"), ("service.name", f"wl{w}"))))
                    metas.append(counter_meta)
    identities, metas = identities[:series], metas[:series]
    now = T0 + ring * 30 * SEC
    store = RingStore(ring_size=ring, max_series=series, retention_ns=1800 * SEC,
                      clock_ns=lambda: now)
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for c in range(ring):
        store.ingest(_numbers_batch(identities, metas, T0 + (c + 1) * 30 * SEC,
                                    c * 10.0 + rng.random(len(identities))))
    fill_s = time.perf_counter() - start
    rss1, pss1 = _rss_pss()
    latencies: dict[str, list[float]] = {"raw": [], "rate_sum_by_pod": []}
    cpu: dict[str, list[float]] = {"raw": [], "rate_sum_by_pod": []}
    for q in range(queries):
        raw = MetricsQueryRequested(request_id="b", namespace=f"ns{q % namespaces}",
                                    workload_kind="Deployment",
                                    workload_name=f"wl{(q * 7) % workloads_per_ns}")
        rate = dataclasses.replace(raw, function="rate", aggregation="sum", by=("pod",),
                                   step_ns=60 * SEC)
        for kind, req in (("raw", raw), ("rate_sum_by_pod", rate)):
            start, start_cpu = time.perf_counter(), time.process_time()
            answer = run_query(store, req, now)
            latencies[kind].append(time.perf_counter() - start)
            cpu[kind].append(time.process_time() - start_cpu)
            assert not answer.error
            assert answer.total_series_matched > 0
    stats = store.stats()
    out: dict[str, object] = {
        "series": stats["series"], "ring_size": ring, "points": stats["points_stored"],
        "fill_points_per_s": round(stats["points_stored"] / fill_s),
        "accounted_bytes": stats["memory_bytes"], "rss_delta_bytes": rss1 - rss0,
        "pss_delta_bytes": pss1 - pss0, "pss_after_bytes": pss1,
        "series_per_workload_query": len(identities) // (namespaces * workloads_per_ns)}
    for kind in latencies:
        wall, used = np.array(latencies[kind]) * 1000, np.array(cpu[kind]) * 1000
        out[f"query_{kind}_p50_ms"] = round(float(np.percentile(wall, 50)), 3)
        out[f"query_{kind}_p99_ms"] = round(float(np.percentile(wall, 99)), 3)
        out[f"query_{kind}_cpu_p99_ms"] = round(float(np.percentile(used, 99)), 3)
    return out


def tree_memory(series: int, ring: int) -> dict[str, object]:
    """The operator-tree figures of ``bench.metrics_memory`` (real operator, real receiver)."""
    from bench import metrics_memory  # starts peers and a subprocess: only when asked

    with tempfile.TemporaryDirectory(prefix="kestrel-metrics-memory-") as tmp:
        figures = metrics_memory.measure(series, ring, 10.0, pathlib.Path(tmp))
    full = figures["full"]
    return {"pss_total_mb": round(int(full["pss_total_bytes"]) / 1e6, 1),
            "pss_total_mib": full["pss_total_mib"], "processes": full["processes"],
            "store_verified": figures["store"]["verified"],
            "by_process_pss_mib": {str(r["name"]): round(int(r["pss"]) / 2**20, 1)
                                   for r in full["rows"]}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench otlp_ingest")
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--ring", type=int, default=60)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--tree", action="store_true",
                        help="also run bench.metrics_memory (the operator tree's PSS)")
    args = parser.parse_args(argv)
    memory = full_store(args.series, args.ring, args.queries)
    ingest = ingest_ratio(args.cycles, args.repeats)
    load = os.getloadavg()[0]
    p99 = max(float(memory["query_raw_p99_ms"]),  # type: ignore[arg-type]
              float(memory["query_rate_sum_by_pod_p99_ms"]))  # type: ignore[arg-type]
    result = {"bench": "otlp_ingest", "ratio": ingest["overall_ratio"],
              "goal": ">= 0.25 (store points/s ÷ upb FromString points/s)",
              "ingest": ingest, "store": memory,
              "memory_goal": "<= 400 MB PSS for the whole operator: see operator_tree",
              "operator_tree": tree_memory(args.series, args.ring) if args.tree else
              "python -m bench metrics_memory (PSS summed over the operator's process tree)",
              "query_p99_ms": p99, "query_goal": "p99 <= 20 ms",
              "loadavg_1m": round(load, 2), "cpus": os.cpu_count(),
              "timing": "ingest ratios from CPU time (process_time); query p99 wall and CPU"}
    print(json.dumps(result))
    return 0
