"""Load, validate and normalize a topology file into an ``actors.runtime.topology_model.Topology``.

The file is YAML shaped like an OpenTelemetry Collector config (``operator:``, ``actors:`` keyed
by ``type/name`` ids, ``links:``; see ``examples/topology/*.yaml``). ``load_topology`` reports
EVERY problem at once as ``TopologyError.problems``, a sorted list of ``"<key path>: <message>"``
lines (``actors.synthetic_source/demo.rate_per_s: must be > 0``, ``links[0].window: must be ≥
1``, ``yaml: line 3, column 7: ...``). It checks, in one pass: YAML syntax and duplicate keys;
the top-level shape; each component's settings against its registered type (unknown keys get a
"did you mean"); the tree (root ``supervisor/root`` required, every component reachable from it
exactly once: no orphans, no cycles, no component under two supervisors); the links (existing
non-supervisor endpoints, window 1..64, no duplicates, no data cycles). Disabled components
(``enabled: false`` or an environment override) vanish with their subtree and their links.

Environment overrides (``env`` defaults to ``os.environ``; empty values count as unset; booleans
accept true/false/1/0/yes/no/on/off; a bad value is a problem at ``env.<NAME>``):

- ``DISABLE_CILIUM_FLOWS=true``: disable every ``hubble_flows/*`` (``false`` leaves the file's
  choice);
- ``ENABLE_ISTIO_ALS=true|false``: enable / disable every ``envoy_als/*``;
- ``ENABLE_OTEL_METRICS_STORE=true|false``: enable / disable every ``otlp_receiver/*`` and
  ``metrics_ring/*``;
- ``KESTREL_STATUS_PORT`` (0..65535; the anchor's ``HEALTH_PORT`` is read when it is unset),
  ``KESTREL_LOG_FORMAT`` (text|json), ``KESTREL_LOG_LEVEL`` (DEBUG..CRITICAL, any case),
  ``KESTREL_CLUSTER_NAME``: replace the ``operator:`` values.

Size: about 500 lines, kept in one module on purpose: the passes share one problem list, one
key-path convention and the component-id rules, and splitting them would spread one report's
wording over several files. The per-value checks live in ``settings_schema``.
"""

from __future__ import annotations

import logging
import os
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import yaml

from actors.runtime.registry import ComponentRegistry, default_registry
from actors.runtime.settings_schema import (
    COMMON_SETTINGS,
    ComponentType,
    Kind,
    Setting,
    check_mapping,
    describe_value,
    did_you_mean,
    unknown_key_message,
)
from actors.runtime.topology_model import (
    ComponentSpec,
    LinkSpec,
    OperatorSettings,
    RestartKind,
    RestartPolicy,
    Strategy,
    Topology,
)
from messages.runtime import Overflow

__all__ = ["ENV_OVERRIDES", "OPERATOR_SETTINGS", "ROOT_ID", "TopologyError", "load_topology",
           "natural_sort_key", "validate_document"]

logger = logging.getLogger(__name__)

ROOT_ID = "supervisor/root"
COMPONENT_ID = re.compile(r"^([a-z][a-z0-9_]{0,62})(?:/(\S+))?$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TOP_LEVEL_KEYS = ("operator", "actors", "links")
MAX_NESTING = 32   # deeper YAML is refused before PyYAML's recursive composer sees it

OPERATOR_SETTINGS: tuple[Setting, ...] = (
    Setting(name="cluster_name", kind=Kind.STR, default="default",
            doc="cluster name reported to the cloud and on /status"),
    Setting(name="status", kind=Kind.MAPPING, doc="the status HTTP endpoint", fields=(
        Setting(name="host", kind=Kind.STR, default="0.0.0.0", doc="listen address"),
        Setting(name="port", kind=Kind.INT, default=8081, minimum=0, maximum=65535,
                doc="listen port; 0 = any free port"),
    )),
    Setting(name="actor_system", kind=Kind.MAPPING, doc="thespian actor system", fields=(
        Setting(name="admin_port", kind=Kind.INT, default=0, minimum=0, maximum=65535,
                doc="admin TCP port (loopback); 0 = pick a free port"),
    )),
    Setting(name="logging", kind=Kind.MAPPING, doc="log output", fields=(
        Setting(name="format", kind=Kind.ENUM, default="text", choices=("text", "json"),
                doc="text lines or JSON lines"),
        Setting(name="level", kind=Kind.ENUM, default="INFO", choices=LOG_LEVELS,
                doc="lowest level emitted"),
    )),
    Setting(name="drain_timeout", kind=Kind.DURATION, default=10.0, minimum=0,
            exclusive_minimum=True, doc="budget to flush links before shutdown"),
    Setting(name="shutdown_timeout", kind=Kind.DURATION, default=20.0, minimum=0,
            exclusive_minimum=True, doc="budget for the whole shutdown before killpg"),
)

# Environment variable → the component types it switches (see the module docstring).
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "DISABLE_CILIUM_FLOWS": ("hubble_flows",),
    "ENABLE_ISTIO_ALS": ("envoy_als",),
    "ENABLE_OTEL_METRICS_STORE": ("otlp_receiver", "metrics_ring"),
}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class TopologyError(Exception):
    """The topology is unusable; ``problems`` lists every reason, sorted, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = sorted(set(problems), key=natural_sort_key)
        super().__init__("\n".join(self.problems))


def natural_sort_key(text: str) -> list[tuple[int, int | str]]:
    """Sort ``links[10]`` after ``links[2]``: digit runs compare as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", text) if part]


def load_topology(source: str | os.PathLike[str], env: Mapping[str, str] | None = None,
                  registry: ComponentRegistry | None = None) -> Topology:
    """Read (a path, or YAML text when ``source`` is a str with a newline), validate, normalize.

    A one-line str is a path when it names an existing file or ends in .yaml/.yml.
    """
    text = _read(source)
    loader = _DuplicateCheckingLoader(text)
    try:
        _check_nesting(text)
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise TopologyError([f"yaml: {where}{error.problem or error}"]) from None
    except yaml.YAMLError as error:
        raise TopologyError([f"yaml: {error}"]) from None
    finally:
        loader.dispose()
    if loader.duplicate_problems:
        raise TopologyError(loader.duplicate_problems)
    return validate_document(document, os.environ if env is None else env,
                             registry or default_registry())


def _check_nesting(text: str) -> None:
    """Refuse absurd nesting from the event stream (iterative) before the recursive composer."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                mark = event.start_mark
                where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
                raise TopologyError([f"yaml: {where}nested deeper than {MAX_NESTING} levels"])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _read(source: str | os.PathLike[str]) -> str:
    if isinstance(source, str) and ("\n" in source or not (
            source.endswith((".yaml", ".yml")) or os.path.isfile(source))):
        return source
    path = pathlib.Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TopologyError([f"file: cannot read {str(path)!r}: {error}"]) from None


class _DuplicateCheckingLoader(yaml.SafeLoader):
    """A safe loader that records duplicate mapping keys (PyYAML keeps the last silently)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_problems: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                mark = key_node.start_mark
                self.duplicate_problems.append(
                    f"yaml: line {mark.line + 1}, column {mark.column + 1}: "
                    f"duplicate key {key!r}")
            if isinstance(key, str | int | float | bool):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def validate_document(document: object, env: Mapping[str, str],
                      registry: ComponentRegistry) -> Topology:
    """Validate an already parsed document; raise ``TopologyError`` with every problem."""
    if document is None:
        raise TopologyError(["topology: the file is empty"])
    if not isinstance(document, Mapping):
        raise TopologyError([f"topology: the top level must be a mapping with operator, actors "
                             f"and links (got {describe_value(document)})"])
    problems: list[str] = [f"{key}: {unknown_key_message(str(key), TOP_LEVEL_KEYS)}"
                           for key in document if key not in TOP_LEVEL_KEYS]
    operator = _operator_settings(document.get("operator"), env, problems)
    raw_actors = document.get("actors")
    if raw_actors is None:
        problems.append("actors: required (a mapping of type/name ids to settings)")
        raw_actors = {}
    elif not isinstance(raw_actors, Mapping) or not raw_actors:
        problems.append(f"actors: must be a non-empty mapping (got {describe_value(raw_actors)})")
        raw_actors = {}
    components = _parse_components(raw_actors, registry, problems)
    enabled = _apply_env_enablement(components, env, problems)
    known = {cid for cid in raw_actors if isinstance(cid, str) and COMPONENT_ID.match(cid)}
    tree = _SupervisionTree.check(
        {cid: c.children for cid, c in components.items()}, known, problems,
        check_root=bool(raw_actors))
    disabled = tree.expand_disabled({cid for cid, on in enabled.items() if not on})
    if ROOT_ID in disabled:
        problems.append(f"actors.{ROOT_ID}.enabled: the root cannot be disabled")
    supervisors = {cid for cid, c in components.items() if c.component_type.supervisor}
    links = _check_links(document.get("links"), known, supervisors, disabled, problems)
    if problems:
        raise TopologyError(problems)
    for link in links:
        if link.window > SWEET_SPOT_WINDOW:
            logger.warning("link %s: window %d is above %d; larger windows were slower on TCP",
                           link.link_id, link.window, SWEET_SPOT_WINDOW)
    order = [cid for cid in tree.start_order() if cid not in disabled]
    return Topology(operator=operator, root_id=ROOT_ID,
                    components={cid: components[cid].to_spec(disabled) for cid in order},
                    links=links)


class _ParsedComponent:
    """One component's validated values before the tree is known."""

    def __init__(self, component_id: str, component_type: ComponentType,
                 values: dict[str, Any]) -> None:
        self.component_id = component_id
        self.component_type = component_type
        self.values = values

    @property
    def children(self) -> list[str]:
        return list(self.values.get("children", ())) if self.component_type.supervisor else []

    def to_spec(self, disabled: set[str]) -> ComponentSpec:
        """The normalized spec; children that are disabled vanish from a supervisor's list."""
        values, kind = self.values, self.component_type
        restart = RestartKind(values["restart"])
        shutdown_timeout_s = float(values["shutdown_timeout"])
        if not kind.supervisor:
            common = {setting.name for setting in COMMON_SETTINGS}
            return ComponentSpec(component_id=self.component_id, component_type=kind.name,
                                 actor_class=kind.actor_class, restart=restart,
                                 shutdown_timeout_s=shutdown_timeout_s,
                                 settings={k: v for k, v in values.items() if k not in common})
        backoff = values["backoff"]
        return ComponentSpec(
            component_id=self.component_id, component_type=kind.name,
            actor_class=kind.actor_class,
            settings={"ready_timeout_s": float(values["ready_timeout_s"])}, restart=restart,
            shutdown_timeout_s=shutdown_timeout_s, strategy=Strategy(values["strategy"]),
            policy=RestartPolicy(max_restarts=values["max_restarts"],
                                 within_s=float(values["within"]),
                                 backoff_min_s=float(backoff["min"]),
                                 backoff_max_s=float(backoff["max"]),
                                 reset_after_s=float(backoff["reset_after"])),
            children=tuple(child for child in self.children if child not in disabled))


def _parse_components(raw_actors: Mapping[Any, Any], registry: ComponentRegistry,
                      problems: list[str]) -> dict[str, _ParsedComponent]:
    parsed: dict[str, _ParsedComponent] = {}
    for component_id, body in raw_actors.items():
        path = f"actors.{component_id}"
        match = COMPONENT_ID.match(component_id) if isinstance(component_id, str) else None
        if match is None:
            problems.append(f"{path}: the id must be type or type/name (a lower_snake_case "
                            "type, a name without whitespace)")
            continue
        component_type = registry.get(match.group(1))
        if component_type is None:
            problems.append(f"{path}: unknown component type {match.group(1)!r} "
                            f"({_type_hint(match.group(1), registry)})")
            continue
        if not component_type.supervisor and isinstance(body, Mapping) and "children" in body:
            problems.append(f"{path}.children: only supervisors have children")
            body = {k: v for k, v in body.items() if k != "children"}
        before = len(problems)
        values = check_mapping(COMMON_SETTINGS + component_type.settings, body, path, problems)
        if len(problems) == before and component_type.check is not None:
            problems.extend(f"{path}.{key}: {message}"
                            for key, message in component_type.check(values))
        parsed[component_id] = _ParsedComponent(component_id, component_type, values)
    return parsed


def _type_hint(type_name: str, registry: ComponentRegistry) -> str:
    suggestion = did_you_mean(type_name, registry.names())
    if suggestion is not None:
        return f"did you mean {suggestion!r}?"
    return "known types: " + ", ".join(registry.names())


def _reference_problem(path: str, target: str, known: set[str]) -> str:
    suggestion = did_you_mean(target, known)
    hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
    return f"{path}: unknown component {target!r}{hint}"


def _operator_settings(raw: object, env: Mapping[str, str],
                       problems: list[str]) -> OperatorSettings:
    values = check_mapping(OPERATOR_SETTINGS, raw, "operator", problems)
    fields: dict[str, Any] = {
        "cluster_name": values["cluster_name"], "status_host": values["status"]["host"],
        "status_port": values["status"]["port"],
        "admin_port": values["actor_system"]["admin_port"],
        "log_format": values["logging"]["format"], "log_level": values["logging"]["level"],
        "drain_timeout_s": float(values["drain_timeout"]),
        "shutdown_timeout_s": float(values["shutdown_timeout"]),
    }
    port_name = "KESTREL_STATUS_PORT" if env.get("KESTREL_STATUS_PORT") else "HEALTH_PORT"
    port = env.get(port_name, "").strip()
    if port:
        if port.isdigit() and int(port) <= 65535:
            fields["status_port"] = int(port)
        else:
            problems.append(f"env.{port_name}: must be a port number 0..65535 (got {port!r})")
    for name, key, choices in (("KESTREL_LOG_FORMAT", "log_format", ("text", "json")),
                               ("KESTREL_LOG_LEVEL", "log_level", LOG_LEVELS)):
        raw_value = env.get(name, "").strip()
        value = raw_value.upper() if key == "log_level" else raw_value.lower()
        if value and value in choices:
            fields[key] = value
        elif value:
            problems.append(f"env.{name}: must be one of {', '.join(choices)} "
                            f"(got {raw_value!r})")
    cluster_name = env.get("KESTREL_CLUSTER_NAME", "").strip()
    if cluster_name:
        fields["cluster_name"] = cluster_name
    return OperatorSettings(**fields)


def _apply_env_enablement(components: Mapping[str, _ParsedComponent], env: Mapping[str, str],
                          problems: list[str]) -> dict[str, bool]:
    enabled = {cid: bool(component.values["enabled"]) for cid, component in components.items()}
    for name, types in ENV_OVERRIDES.items():
        raw = env.get(name, "").strip()
        if not raw:
            continue
        if raw.lower() not in _TRUE | _FALSE:
            problems.append(f"env.{name}: must be true or false (got {raw!r})")
            continue
        flag = raw.lower() in _TRUE
        if name.startswith("DISABLE_"):
            if not flag:
                continue  # "not disabled" leaves the file's choice
            flag = False
        for cid, component in components.items():
            if component.component_type.name in types:
                enabled[cid] = flag
    return enabled


class _SupervisionTree:
    """The accepted parent → children edges (first parent wins) and walks over them."""

    def __init__(self, edges: dict[str, list[str]]) -> None:
        self.edges = edges

    @classmethod
    def check(cls, children: Mapping[str, list[str]], known: set[str], problems: list[str],
              *, check_root: bool) -> _SupervisionTree:
        """Accept valid edges; report bad references, second parents, orphans and cycles."""
        edges: dict[str, list[str]] = {}
        parent: dict[str, str] = {}
        for supervisor, kids in children.items():
            accepted: list[str] = []
            for index, child in enumerate(kids):
                path = f"actors.{supervisor}.children[{index}]"
                if child not in known:
                    problems.append(_reference_problem(path, child, known))
                elif child == ROOT_ID:
                    problems.append(f"{path}: the root {ROOT_ID!r} cannot be a child")
                elif child == supervisor:
                    problems.append(f"{path}: a supervisor cannot be its own child")
                elif child in accepted:
                    problems.append(f"{path}: {child!r} is listed twice")
                elif child in parent:
                    problems.append(f"{path}: {child!r} is already a child of {parent[child]}")
                else:
                    parent[child] = supervisor
                    accepted.append(child)
            edges[supervisor] = accepted
        tree = cls(edges)
        if ROOT_ID not in known:
            if check_root:  # an absent or malformed actors: section is reported already
                problems.append(f"actors: missing the root component {ROOT_ID!r}")
            return tree
        reachable = set(tree.start_order())
        problems.extend(_unreachable_problem(component_id, parent)
                        for component_id in sorted(known - reachable))
        return tree

    def start_order(self) -> list[str]:
        """Depth first from the root, each supervisor's children in their listed order."""
        order: list[str] = []
        stack = [ROOT_ID]
        while stack:
            node = stack.pop()
            if node in order:
                continue
            order.append(node)
            stack.extend(reversed(self.edges.get(node, [])))
        return order

    def expand_disabled(self, disabled: set[str]) -> set[str]:
        """Disabled components plus every descendant of a disabled supervisor."""
        expanded: set[str] = set()
        stack = sorted(disabled)
        while stack:
            node = stack.pop()
            if node not in expanded:
                expanded.add(node)
                stack.extend(self.edges.get(node, []))
        return expanded


def _unreachable_problem(component_id: str, parent: Mapping[str, str]) -> str:
    if component_id not in parent:
        return f"actors.{component_id}: orphan: no supervisor lists it in its children"
    chain = [component_id]
    while chain[-1] in parent and len(chain) <= len(parent):
        up = parent[chain[-1]]
        if up in chain:
            cycle = chain[chain.index(up):]
            if component_id not in cycle:
                break
            start = cycle.index(min(cycle))
            downward = list(reversed(cycle[start:] + cycle[:start]))
            downward = downward[-1:] + downward[:-1]
            return (f"actors.{component_id}: supervision cycle "
                    f"{' -> '.join([*downward, downward[0]])}, not reachable from {ROOT_ID}")
        chain.append(up)
    return (f"actors.{component_id}: not reachable from {ROOT_ID} "
            f"(its supervisor {parent[component_id]} is not)")


SWEET_SPOT_WINDOW = 8   # 4-8 unacknowledged batches were fastest on thespian TCP
LINK_SETTINGS: tuple[Setting, ...] = (
    Setting(name="from", kind=Kind.STR, doc="producer component id"),
    Setting(name="to", kind=Kind.STR, doc="consumer component id"),
    Setting(name="window", kind=Kind.INT, default=SWEET_SPOT_WINDOW, minimum=1, maximum=64,
            doc="max unacknowledged batches in flight"),
    Setting(name="overflow", kind=Kind.ENUM, default="block", choices=("block", "drop_oldest"),
            doc="block = lossless backpressure; drop_oldest = lossy, every drop counted"),
    Setting(name="request", kind=Kind.BOOL, default=False,
            doc="carries requests whose answers return on a separate link (cloud commands); "
                "exempt from the data-cycle rule: the consumer finishes a request by answering "
                "on its own answer link, never by waiting for credit on this one"),
)


def _check_links(raw_links: object, known: set[str], supervisors: set[str], disabled: set[str],
                 problems: list[str]) -> tuple[LinkSpec, ...]:
    if raw_links is None:
        return ()
    if not isinstance(raw_links, list):
        problems.append(f"links: must be a list of {{from, to, window, overflow}} "
                        f"(got {describe_value(raw_links)})")
        return ()
    first_index: dict[tuple[str, str], int] = {}
    links: list[LinkSpec] = []
    for index, raw in enumerate(raw_links):
        path = f"links[{index}]"
        before = len(problems)
        values = check_mapping(LINK_SETTINGS, raw, path, problems)
        if not isinstance(raw, Mapping):
            continue
        for end in ("from", "to"):
            target = values[end]
            if end not in raw:
                problems.append(f"{path}.{end}: required")
            elif target is not None and target not in known:
                problems.append(_reference_problem(f"{path}.{end}", target, known))
            elif target in supervisors:
                problems.append(f"{path}.{end}: {target!r} is a supervisor; "
                                "links connect workers")
        if len(problems) > before:
            continue
        pair = (values["from"], values["to"])
        if pair[0] == pair[1]:
            problems.append(f"{path}: a component cannot link to itself")
        elif pair in first_index:
            problems.append(f"{path}: duplicates links[{first_index[pair]}] "
                            f"({pair[0]} -> {pair[1]})")
        else:
            first_index[pair] = index
            if values["request"] and values["overflow"] != "block":
                problems.append(f"{path}.overflow: request links are lossless: must be block")
            elif pair[0] not in disabled and pair[1] not in disabled:
                links.append(LinkSpec(link_id=f"{pair[0]}->{pair[1]}", producer_id=pair[0],
                                      consumer_id=pair[1], window=values["window"],
                                      overflow=Overflow(values["overflow"]),
                                      request=bool(values["request"])))
    cycle = _data_cycle([link for link in links if not link.request])
    if cycle:
        problems.append(f"links: data cycle {' -> '.join(cycle)} (credit windows would deadlock)")
    return tuple(links)


def _data_cycle(links: list[LinkSpec]) -> list[str] | None:
    """The first producer → consumer cycle found (deterministic), or None."""
    downstream: dict[str, list[str]] = {}
    for link in links:
        downstream.setdefault(link.producer_id, []).append(link.consumer_id)
    finished: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        if node in finished:
            return None
        for nxt in sorted(downstream.get(node, [])):
            found = visit(nxt, [*path, node])
            if found:
                return found
        finished.add(node)
        return None

    for start in sorted(downstream):
        found = visit(start, [])
        if found:
            return found
    return None
