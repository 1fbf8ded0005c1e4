"""``python -m sim.hubble``: run a simulated Hubble Relay until interrupted (or ``--seconds``).

Prints ``sim.hubble listening on HOST:PORT`` once serving (tests and benches parse it), then
serves the replayed fixture (``--mode replay``, looped ``--loops`` times) or synthetic flows
(``--mode synthetic``) at ``--rate`` flows/s (0 = the whole history at once). ``--engine grpcio``
(default) is ``relay.RelaySimulator``; ``--engine h2`` is the far cheaper plaintext
``h2_relay.H2RelaySimulator`` serving the same flows (what a benchmark of the client side wants).
"""

from __future__ import annotations

import argparse
import sys
import time

from sim.hubble.h2_relay import H2RelaySimulator
from sim.hubble.history import build_sequence
from sim.hubble.relay import RelaySimulator


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.hubble", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=("replay", "synthetic"), default="replay")
    parser.add_argument("--loops", type=int, default=1)
    parser.add_argument("--total", type=int, default=0, help="frames in the history (0: loops)")
    parser.add_argument("--rate", type=float, default=0.0, help="flows/s, 0 = all at once")
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--engine", choices=("grpcio", "h2"), default="grpcio")
    parser.add_argument("--seconds", type=float, default=0.0, help="exit after this long")
    args = parser.parse_args(argv)
    sequence = build_sequence(args.mode, loops=args.loops, total=args.total, rate=args.rate,
                              nodes=args.nodes)
    relay: RelaySimulator | H2RelaySimulator
    if args.engine == "h2":
        relay = H2RelaySimulator(sequence, host=args.host, port=args.port)
    else:
        relay = RelaySimulator(sequence, host=args.host, port=args.port)
    port = relay.start()
    print(f"sim.hubble listening on {args.host}:{port}", flush=True)
    deadline = time.monotonic() + args.seconds if args.seconds > 0 else None
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        relay.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
