"""Benchmark: a full pod list of the ``large`` simulated cluster over loopback HTTPS.

Builds the large cluster (>= 5,000 pods, timed), then fetches ``GET /api/v1/pods`` over TLS with
a bearer token several times and reports objects/s. The ratio compares that rate with how fast
``json.loads`` alone decodes the very same bytes in this run: a ratio >= 1 means the server
streams a list faster than a Python client can even parse it, i.e. the simulator is never the
bottleneck. The absolute goal from the issue (10k objects/s) is printed alongside. Both rates
are the best of ``--rounds`` tries (a shared 2-core machine is noisy).
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import ssl
import time

from sim.kubeapi import KubeApiServer, generate_cluster

GOAL_OBJECTS_PER_S = 10_000
GOAL_RATIO = 1.0


def _fetch(connection: http.client.HTTPSConnection, token: str, path: str) -> bytes:
    """One GET on a kept-alive connection (the TLS handshake is not part of list cost)."""
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}",
                                             "Accept": "application/json"})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"list failed: HTTP {response.status}: {body[:200]!r}")
    return body


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench kubeapi_list")
    parser.add_argument("--scale", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    cluster = generate_cluster(args.scale, seed=1)
    server = KubeApiServer(cluster, history_limit=1_000)
    build_s = time.perf_counter() - started
    pods = server.store.count("pods")
    # Client and server share this process: keep the simulator's large heap out of the
    # cyclic GC's passes so json.loads costs what it would in a separate client process.
    del cluster
    gc.collect()
    gc.freeze()
    with server:
        context = ssl.create_default_context(cafile=server.ca_file)
        connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context,
                                                 timeout=60)
        token = server.tokens.admin
        body = _fetch(connection, token, "/api/v1/pods")  # warm-up (TLS handshake, caches)
        fetch_times, parse_times = [], []
        for _ in range(args.rounds):
            begin = time.perf_counter()
            body = _fetch(connection, token, "/api/v1/pods")
            fetch_times.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            decoded = json.loads(body)
            parse_times.append(time.perf_counter() - begin)
            if len(decoded["items"]) != pods:
                raise RuntimeError(f"expected {pods} pods, got {len(decoded['items'])}")
        connection.close()
    http_rate = pods / min(fetch_times)
    parse_rate = pods / min(parse_times)
    result = {
        "bench": "kubeapi_list", "scale": args.scale, "pods": pods,
        "build_s": round(build_s, 3), "bytes": len(body),
        "http_objects_per_s": round(http_rate), "json_loads_objects_per_s": round(parse_rate),
        "ratio": round(http_rate / parse_rate, 3), "goal": GOAL_RATIO,
        "goal_objects_per_s": GOAL_OBJECTS_PER_S,
        "meets_objects_goal": http_rate >= GOAL_OBJECTS_PER_S,
    }
    print(f"built {args.scale} cluster ({pods} pods) in {build_s:.2f}s; list over HTTPS: "
          f"{http_rate:,.0f} objects/s; json.loads of the same bytes: {parse_rate:,.0f} "
          f"objects/s; goal {GOAL_OBJECTS_PER_S:,} objects/s")
    print(json.dumps(result))
    return 0
