"""Parses ``command`` records from the uplink into typed, checked requests (plain logic).

A record is ``{request_id, deadline_unix, kind, args}`` (``messages.records``). Kinds and args:
- ``k8s_get`` (alias ``k8s_request``): ``path`` (str), optional ``query`` (a mapping of
  parameter → scalar, or an ``a=b&c=d`` string), optional ``method`` (only ``GET``), no ``body``;
- ``shell``: ``command`` (one command string);
- ``yaml_dry_run`` / ``yaml_apply``: ``yaml`` (multi-document text), optional ``namespace``;
- ``cilium`` (alias ``cilium_request``): ``op`` (or ``path``) one of observe, status, nodes,
  resources; flow filters in ``filters`` (or the wire's string ``query`` map, where list values
  are comma-separated and numbers are digit strings); for ``resources``: ``kind``,
  ``namespace``, ``name``, ``label_selector`` (top-level or inside the filters).
``parse_command`` never raises: a malformed record or bad args becomes an ``ArgsProblem`` with a
short code (``bad_record``, ``unknown_kind``, ``bad_args``) and a readable message.
"""

from __future__ import annotations

import dataclasses
import math
import urllib.parse
from collections.abc import Mapping
from typing import Any

__all__ = ["ArgsProblem", "CiliumArgs", "CommandEnvelope", "KubeGetArgs", "ManifestArgs",
           "ShellArgs", "parse_command"]

KIND_ALIASES = {"k8s_get": "k8s_get", "k8s_request": "k8s_get", "shell": "shell",
                "yaml_dry_run": "yaml_dry_run", "yaml_apply": "yaml_apply",
                "cilium": "cilium", "cilium_request": "cilium"}
CILIUM_OPS = ("observe", "status", "nodes", "resources")
_LIST_FILTERS = ("namespaces", "pods", "from_pods", "to_pods", "labels", "verdicts", "protocols",
                 "ips")
_RESOURCE_KEYS = ("kind", "namespace", "name", "label_selector")
_MAX_ID = 256


@dataclasses.dataclass(frozen=True, slots=True)
class KubeGetArgs:
    """A read-only API GET."""

    path: str                     # path with the query string joined in


@dataclasses.dataclass(frozen=True, slots=True)
class ShellArgs:
    """One shell command string (checked by shell_policy later)."""

    command: str


@dataclasses.dataclass(frozen=True, slots=True)
class ManifestArgs:
    """YAML for a server-side dry-run or apply."""

    yaml_text: str
    namespace: str
    apply: bool


@dataclasses.dataclass(frozen=True, slots=True)
class CiliumArgs:
    """A Hubble query or a Cilium resource read."""

    op: str
    filters: Mapping[str, Any]
    kind: str = ""
    namespace: str = ""
    name: str = ""
    label_selector: str = ""


CommandArgs = KubeGetArgs | ShellArgs | ManifestArgs | CiliumArgs


@dataclasses.dataclass(frozen=True, slots=True)
class ArgsProblem:
    """Why a record or its args were refused (short code + message)."""

    code: str
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class CommandEnvelope:
    """One command: its id, absolute deadline (Unix s; 0 = none given), kind and parsed args."""

    request_id: str
    deadline_unix: float
    kind: str                     # canonical kind, or the raw kind when unknown
    args: CommandArgs | ArgsProblem


def parse_command(record: Any) -> CommandEnvelope | ArgsProblem:
    """The envelope of ``record``; an ``ArgsProblem`` only when it has no usable request id."""
    if not isinstance(record, Mapping):
        return ArgsProblem("bad_record", "a command record must be a mapping")
    request_id = record.get("request_id")
    if not isinstance(request_id, str) or not request_id or len(request_id) > _MAX_ID:
        return ArgsProblem("bad_record", f"request_id must be a string of 1..{_MAX_ID} chars")
    deadline = record.get("deadline_unix", 0)
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or \
            not math.isfinite(deadline):
        deadline = 0.0
    raw_kind = record.get("kind")
    kind = KIND_ALIASES.get(raw_kind) if isinstance(raw_kind, str) else None
    if kind is None:
        shown = str(raw_kind)[:64]
        return CommandEnvelope(request_id, float(deadline), shown, ArgsProblem(
            "unknown_kind", f"unknown command kind {shown!r} (known: "
                            f"{', '.join(sorted(KIND_ALIASES))})"))
    args = record.get("args") or {}
    if not isinstance(args, Mapping):
        return CommandEnvelope(request_id, float(deadline), kind,
                               ArgsProblem("bad_args", "args must be a mapping"))
    return CommandEnvelope(request_id, float(deadline), kind, _PARSERS[kind](args))


def _text(args: Mapping[str, Any], key: str, *, required: bool = False) -> str | ArgsProblem:
    value = args.get(key, "")
    if not isinstance(value, str):
        return ArgsProblem("bad_args", f"{key} must be a string")
    if required and not value.strip():
        return ArgsProblem("bad_args", f"{key} is required")
    return value


def _k8s_get(args: Mapping[str, Any]) -> CommandArgs | ArgsProblem:
    method = _text(args, "method")
    if isinstance(method, ArgsProblem):
        return method
    if method and method.upper() != "GET":
        return ArgsProblem("method_not_allowed", f"only GET is allowed, not {method[:16]!r}; "
                                                 "use yaml_dry_run / yaml_apply for changes")
    if args.get("body"):
        return ArgsProblem("bad_args", "a GET carries no body")
    path = _text(args, "path", required=True)
    if isinstance(path, ArgsProblem):
        return path
    query = args.get("query") or {}
    if isinstance(query, str):
        encoded = query.lstrip("?")
    elif isinstance(query, Mapping):
        pairs = []
        for name, value in query.items():
            if not isinstance(name, str) or isinstance(value, Mapping | list | tuple):
                return ArgsProblem("bad_args", "query must map names to plain values")
            text = str(value).lower() if isinstance(value, bool) else str(value)
            pairs.append((name, text))
        encoded = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
    else:
        return ArgsProblem("bad_args", "query must be a mapping or a query string")
    if encoded:
        path += ("&" if "?" in path else "?") + encoded
    return KubeGetArgs(path)


def _shell(args: Mapping[str, Any]) -> CommandArgs | ArgsProblem:
    command = _text(args, "command", required=True)
    return command if isinstance(command, ArgsProblem) else ShellArgs(command)


def _manifests(apply: bool) -> Any:
    def parse(args: Mapping[str, Any]) -> CommandArgs | ArgsProblem:
        text = _text(args, "yaml", required=True)
        namespace = _text(args, "namespace")
        if isinstance(text, ArgsProblem):
            return text
        if isinstance(namespace, ArgsProblem):
            return namespace
        return ManifestArgs(text, namespace, apply)
    return parse


def _cilium(args: Mapping[str, Any]) -> CommandArgs | ArgsProblem:
    op = args.get("op", args.get("path", ""))
    op = op.strip("/").lower() if isinstance(op, str) else ""
    if op not in CILIUM_OPS:
        return ArgsProblem("bad_args", f"op must be one of {', '.join(CILIUM_OPS)}")
    raw = args.get("filters", args.get("query", {})) or {}
    if not isinstance(raw, Mapping):
        return ArgsProblem("bad_args", "filters must be a mapping")
    filters = {str(key): _wire_value(str(key), value) for key, value in raw.items()}
    resource: dict[str, str] = {}
    for key in _RESOURCE_KEYS:
        value = args.get(key, filters.pop(key, ""))
        if not isinstance(value, str):
            return ArgsProblem("bad_args", f"{key} must be a string")
        resource[key] = value
    if op == "resources" and not resource["kind"]:
        return ArgsProblem("bad_args", "resources needs a kind (e.g. CiliumNetworkPolicy)")
    return CiliumArgs(op, filters, **resource)


def _wire_value(key: str, value: Any) -> Any:
    """The wire's string map → FlowQuery types: digit strings to ints, commas to lists."""
    if not isinstance(value, str):
        return value
    if key in ("number", "since_s") and value.isdigit():
        return int(value)
    if key in _LIST_FILTERS:
        return [part.strip() for part in value.split(",") if part.strip()]
    if key == "ports":
        parts = [part.strip() for part in value.split(",") if part.strip()]
        return [int(part) if part.isdigit() else part for part in parts]
    return value


_PARSERS: dict[str, Any] = {"k8s_get": _k8s_get, "shell": _shell,
                            "yaml_dry_run": _manifests(False), "yaml_apply": _manifests(True),
                            "cilium": _cilium}
