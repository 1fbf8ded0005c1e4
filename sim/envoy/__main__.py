"""``python -m sim.envoy --target HOST:PORT``: run simulated sidecars against an ALS server.

``--mode replay`` sends the golden http and tcp streams (re-identified per sidecar);
``--mode synthetic`` sends generated HTTP load. Prints one summary line and exits non-zero if
any stream failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sim.envoy.sidecars import run_sidecars
from sim.envoy.streams import fixture_stream, replay_stream, synthetic_stream


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.envoy", description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--sidecars", type=int, default=10)
    parser.add_argument("--mode", choices=("replay", "synthetic"), default="replay")
    parser.add_argument("--messages", type=int, default=10, help="per synthetic sidecar")
    parser.add_argument("--hold-open", action="store_true")
    args = parser.parse_args(argv)
    if args.mode == "replay":
        http, tcp = fixture_stream("http"), fixture_stream("tcp")
        streams = [replay_stream(http if i % 2 == 0 else tcp, i) for i in range(args.sidecars)]
    else:
        streams = [synthetic_stream(i, messages=args.messages) for i in range(args.sidecars)]
    report = asyncio.run(run_sidecars(args.target, streams, hold_open=args.hold_open))
    print(f"sim.envoy sidecars={args.sidecars} ok={report.streams_ok} "
          f"failed={report.streams_failed} messages={report.messages_sent} "
          f"statuses={report.statuses}", flush=True)
    return 1 if report.streams_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
