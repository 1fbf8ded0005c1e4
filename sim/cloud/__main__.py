"""``python -m sim.cloud [--workdir DIR] [--token-ttl S] [--stream-port P] [--token-port P] ...``.

Runs the simulated Kestrel Cloud standalone until SIGINT/SIGTERM, after printing its addresses,
the certificate paths and the client credential files as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading

from sim.cloud.cloud import SimulatedCloud


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.cloud", description=__doc__)
    parser.add_argument("--workdir", default="")
    parser.add_argument("--cluster-id", default="cluster-test")
    parser.add_argument("--token-ttl", type=float, default=300.0)
    parser.add_argument("--stream-port", type=int, default=0)
    parser.add_argument("--token-port", type=int, default=0)
    parser.add_argument("--no-payloads", action="store_true",
                        help="count records but do not keep payloads (benchmarks)")
    parser.add_argument("--ack-every", type=int, default=32)
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="kestrel-sim-cloud-")
    cloud = SimulatedCloud(workdir, cluster_id=args.cluster_id, token_ttl_s=args.token_ttl,
                           stream_port=args.stream_port, token_port=args.token_port,
                           keep_payloads=not args.no_payloads, ack_every=args.ack_every).start()
    info = dict(cloud.uplink_settings())
    info.update({"workdir": str(workdir), "ca_key": str(cloud.pki.ca_key),
                 "expired_client_cert": str(cloud.pki.expired_client_cert),
                 "wrong_ca_cert": str(cloud.pki.wrong_ca_cert)})
    print(json.dumps(info, indent=2), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        cloud.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
