"""``python -m sim.kubeapi``: run the simulated API server standalone (used by ``make demo``).

Builds a cluster at the requested scale, serves it over TLS, writes a kubeconfig and prints its
path (first line of stdout: ``KUBECONFIG=<path>``), then runs until interrupted, optionally with
background churn. Bad arguments exit 2 via argparse.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import signal
import sys
import tempfile
import threading

from sim.kubeapi.churn import Churn
from sim.kubeapi.cluster import SCALES, generate_cluster
from sim.kubeapi.server import KubeApiServer


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.kubeapi", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0, help="0 = ephemeral")
    parser.add_argument("--plain-http", action="store_true", help="serve http, not https")
    parser.add_argument("--churn", type=float, default=0.0, help="churn steps per second")
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--kubeconfig", type=pathlib.Path, default=None)
    parser.add_argument("--token", choices=("admin", "read-only", "no-rights"),
                        default="admin")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = KubeApiServer(generate_cluster(args.scale, args.seed), tls=not args.plain_http,
                           port=args.port, bookmark_interval_s=args.bookmark_interval,
                           history_limit=args.history)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        token = {"admin": server.tokens.admin, "read-only": server.tokens.read_only,
                 "no-rights": server.tokens.no_rights}[args.token]
        path = args.kubeconfig or pathlib.Path(tempfile.mkdtemp(prefix="sim-kubeconfig-")) / (
            "kubeconfig")
        server.write_kubeconfig(path, token)
        print(f"KUBECONFIG={path}", flush=True)
        print(f"server {server.url} scale={args.scale} seed={args.seed}", flush=True)
        churn = Churn(server.store, args.churn, args.seed + 1) if args.churn > 0 else None
        if churn:
            churn.start()
        try:
            stop.wait()
        finally:
            if churn:
                churn.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
