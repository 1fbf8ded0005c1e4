"""``python -m sim.demo [--duration S]``: the whole operator against every simulated peer.

What ``make demo`` runs. Exit 0 when every source delivered, the outage and the crash were
recovered with no lossless loss, every link balanced and the operator exited cleanly.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys
import tempfile

from sim.demo.scenario import run_scenario


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.demo", description=__doc__)
    parser.add_argument("--duration", type=float, default=90.0,
                        help="seconds of traffic (default 90; the whole run stays under 2 min)")
    parser.add_argument("--outage", type=float, default=10.0, help="cloud outage seconds")
    parser.add_argument("--scale", choices=("small", "medium", "large"), default="medium")
    args = parser.parse_args(argv)
    if args.duration < 40:
        parser.error("--duration must be at least 40 seconds (outage, crash and commands)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="kestrel-demo-") as tmp:
        result = run_scenario(pathlib.Path(tmp), sys.stdout, duration_s=args.duration,
                              outage_s=args.outage, scale=args.scale)
    print("DEMO OK" if result.ok else "DEMO FAILED: see the summary above")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
