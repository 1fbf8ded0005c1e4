"""``python -m bench NAME [ARGS]``: run benchmark ``bench/NAME.py`` (its ``main(argv)``).

``python -m bench all`` runs every benchmark with its defaults. Each benchmark prints, as its last
line, one JSON object with at least ``bench``, ``ratio`` and ``goal`` plus the raw figures.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                  if not m.name.startswith("_") and m.name != "hop_actors")


def run(name: str, argv: list[str]) -> int:
    module = importlib.import_module(f"bench.{name}")
    result = module.main(argv)
    return int(result or 0)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: python -m bench NAME [ARGS] | all\nbenchmarks: " + " ".join(available()))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        failures = [n for n in available() if n != "soak" and run(n, rest) != 0]
        return 1 if failures else 0
    if name not in available():
        print(f"unknown benchmark {name!r}; available: {' '.join(available())}", file=sys.stderr)
        return 2
    return run(name, rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
