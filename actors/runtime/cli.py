"""The ``kestrel-operator`` command line (console script ``actors.runtime.cli:main``).

Subcommands:

- ``topology validate FILE``: exit 0 with a one-line summary, or exit 1 with every problem on
  its own line (stdout) and a count on stderr;
- ``topology show FILE``: the normalized topology (defaults merged, environment overrides
  applied, disabled components removed) as YAML that itself validates to the same topology;
- ``status [--url URL] [--json] [--timeout S]``: GET ``/status`` of a running operator and print
  the tree (state, restarts, uptime, last error), the links (in flight / window, received /
  forwarded / dropped) and readiness; exit 1 with a clear message when unreachable or answering
  503. The default URL uses ``KESTREL_STATUS_PORT`` (else 8081) on 127.0.0.1;
- ``run --topology FILE`` and ``demo [--duration S]``: import ``actors.runtime.lifecycle``
  lazily and call ``lifecycle.run(topology)`` / ``lifecycle.demo(duration_s=...)``; exit 1 with
  a clear message when this build has no lifecycle module or function.

Usage errors exit 2 (argparse). Nothing here raises to the shell for bad input: an invalid
topology, an unreachable endpoint or a broken domain registry each become a message and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any, TextIO

import yaml

from actors.runtime import logging_setup
from actors.runtime.registry import RegistryError
from actors.runtime.settings_schema import format_duration
from actors.runtime.topology import TopologyError, load_topology
from actors.runtime.topology_model import Topology

__all__ = ["build_parser", "main", "render_status", "topology_to_yaml"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kestrel-operator",
                                     description="Kestrel Operator: telemetry actors for K8s")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    topology = commands.add_parser("topology", help="validate or show a topology file")
    actions = topology.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("validate", "check a topology file and report every problem"),
                       ("show", "print the normalized topology as YAML")):
        action = actions.add_parser(name, help=text)
        action.add_argument("file", metavar="FILE", help="topology YAML file")
    status = commands.add_parser("status", help="show the status of a running operator")
    status.add_argument("--url", default=None,
                        help="status endpoint base URL (default http://127.0.0.1:$PORT)")
    status.add_argument("--json", action="store_true", help="print the raw JSON document")
    status.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    run = commands.add_parser("run", help="run the operator from a topology file")
    run.add_argument("--topology", required=True, metavar="FILE", help="topology YAML file")
    demo = commands.add_parser("demo", help="run the synthetic demo pipeline")
    demo.add_argument("--duration", type=float, default=None, metavar="S",
                      help="stop after S seconds (default: until Ctrl-C)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_request:  # usage errors (2) and --help (0)
        return int(exit_request.code or 0)
    try:
        if args.command == "topology":
            return _topology(args.action, args.file, sys.stdout)
        if args.command == "status":
            return _status(args.url or _default_url(), args.json, args.timeout, sys.stdout)
        if args.command == "run":
            return _run(args.topology)
        return _demo(args.duration)
    except RegistryError as error:
        print(f"error: component registry: {error}", file=sys.stderr)
        return 1


def _topology(action: str, path: str, out: TextIO) -> int:
    try:
        topology = load_topology(path)
    except TopologyError as error:
        for problem in error.problems:
            print(problem, file=out)
        print(f"{path}: {_count(len(error.problems), 'problem')}", file=sys.stderr)
        return 1
    if action == "show":
        out.write(topology_to_yaml(topology))
        return 0
    supervisors = sum(1 for spec in topology.components.values() if spec.is_supervisor)
    print(f"{path}: OK: {_count(len(topology.components), 'component')} "
          f"({_count(supervisors, 'supervisor')}), {_count(len(topology.links), 'link')}, "
          f"root {topology.root_id}", file=out)
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def topology_to_yaml(topology: Topology) -> str:
    """The topology in file form, every default spelled out."""
    operator = topology.operator
    actors: dict[str, Any] = {}
    for spec in topology.components.values():
        body: dict[str, Any] = {"restart": spec.restart.value,
                                "shutdown_timeout": format_duration(spec.shutdown_timeout_s)}
        if spec.strategy is not None and spec.policy is not None:
            policy = spec.policy
            body.update({
                "strategy": spec.strategy.value, "max_restarts": policy.max_restarts,
                "within": format_duration(policy.within_s),
                "backoff": {"min": format_duration(policy.backoff_min_s),
                            "max": format_duration(policy.backoff_max_s),
                            "reset_after": format_duration(policy.reset_after_s)},
                "children": list(spec.children)})
        body.update(spec.settings)
        actors[spec.component_id] = body
    document = {
        "operator": {
            "cluster_name": operator.cluster_name,
            "status": {"host": operator.status_host, "port": operator.status_port},
            "actor_system": {"admin_port": operator.admin_port},
            "logging": {"format": operator.log_format, "level": operator.log_level},
            "drain_timeout": format_duration(operator.drain_timeout_s),
            "shutdown_timeout": format_duration(operator.shutdown_timeout_s),
        },
        "actors": actors,
        "links": [{"from": link.producer_id, "to": link.consumer_id, "window": link.window,
                   "overflow": link.overflow.value} for link in topology.links],
    }
    header = "# normalized: defaults merged, environment overrides applied\n"
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False,
                                   allow_unicode=True)


def _default_url() -> str:
    port = os.environ.get("KESTREL_STATUS_PORT") or os.environ.get("HEALTH_PORT") or "8081"
    return f"http://127.0.0.1:{port}"


def _status(url: str, raw_json: bool, timeout_s: float, out: TextIO) -> int:
    target = url.rstrip("/") + "/status"
    if not target.startswith(("http://", "https://")):
        print(f"error: --url must start with http:// or https:// (got {url!r})", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(target, timeout=timeout_s) as response:  # noqa: S310
            document = json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace").strip()
        print(f"error: {target} answered {error.code}: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        print(f"error: cannot reach the status endpoint at {target}: {reason}", file=sys.stderr)
        return 1
    out.write(json.dumps(document, indent=2) + "\n" if raw_json else render_status(document))
    return 0


def render_status(document: dict[str, Any]) -> str:
    """The /status JSON as an indented tree, a link table and a verdict."""
    lines: list[str] = []

    def walk(node: dict[str, Any], prefix: str, last: bool, depth: int) -> None:
        branch = "" if depth == 0 else ("└─ " if last else "├─ ")
        label = f"{prefix}{branch}{_printable(node['id'])}"
        error = f"  last error: {_printable(node['last_error'])}" if node.get("last_error") \
            else ""
        lines.append(f"{label:<48} {node['state']:<12} restarts {node['restarts']:<3} "
                     f"up {_uptime(node['uptime_s'])}{error}")
        children = node.get("children", [])
        inner = prefix if depth == 0 else prefix + ("   " if last else "│  ")
        for index, child in enumerate(children):
            walk(child, inner, index == len(children) - 1, depth + 1)

    walk(document["root"], "", True, 0)
    lines.append("links:" if document["links"] else "links: none")
    for link in document["links"]:
        verdict = "ok" if link["balanced"] else "UNBALANCED"
        lines.append(f"  {_printable(link['from'])} -> {_printable(link['to'])} "
                     f"[{link['overflow']}]  in flight "
                     f"{link['in_flight']} records ({link['batches_in_flight']}/{link['window']}"
                     f" batches)  received {link['received']}  forwarded {link['forwarded']}  "
                     f"dropped {link['dropped']}  {verdict}")
    lines.append("conservation: " + ("ok" if document["conservation_ok"] else
                                     "VIOLATED (received != forwarded + dropped + in flight)"))
    reasons = document.get("ready_reasons", [])
    lines.append("ready: yes" if document.get("ready") else "ready: no")
    lines.extend(f"  - {_printable(reason)}" for reason in reasons)
    return "\n".join(lines) + "\n"


def _printable(text: object) -> str:
    """One terminal line whatever a component put in its id or error (control chars escaped)."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in str(text))


def _uptime(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _lifecycle_function(name: str) -> Any:
    try:
        lifecycle = importlib.import_module("actors.runtime.lifecycle")
    except ModuleNotFoundError as error:
        if error.name != "actors.runtime.lifecycle":
            raise
        print("error: this build has no actors.runtime.lifecycle module: cannot start the "
              "operator", file=sys.stderr)
        return None
    function = getattr(lifecycle, name, None)
    if function is None:
        print(f"error: actors.runtime.lifecycle has no {name}(): this build cannot {name}",
              file=sys.stderr)
    return function


def _run(path: str) -> int:
    try:
        topology = load_topology(path)
    except TopologyError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: invalid topology: not starting", file=sys.stderr)
        return 1
    logging_setup.configure_main_logging(topology.operator.log_format,
                                         topology.operator.log_level)
    run = _lifecycle_function("run")
    return 1 if run is None else int(run(topology))


def _demo(duration_s: float | None) -> int:
    log_format = os.environ.get("KESTREL_LOG_FORMAT", "").strip().lower()
    logging_setup.configure_main_logging(
        log_format if log_format in logging_setup.LOG_FORMATS else "text")
    demo = _lifecycle_function("demo")
    if demo is None:
        return 1
    return int(demo() if duration_s is None else demo(duration_s=duration_s))


if __name__ == "__main__":
    sys.exit(main())
