"""The validated shape of a topology file: the types every runtime module agrees on.

Plain frozen dataclasses, no I/O and no thespian. ``actors.runtime.topology`` parses and validates
YAML into a ``Topology``; supervisors receive ``Topology.to_document()`` (plain data, msgpack-able)
and rebuild it with ``Topology.from_document`` without re-validating.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from messages.runtime import Overflow

__all__ = ["ComponentSpec", "LinkSpec", "OperatorSettings", "RestartKind", "RestartPolicy",
           "Strategy", "Topology"]


class Strategy(enum.Enum):
    """Which siblings restart with a dead child (Erlang/OTP supervisor strategies)."""

    ONE_FOR_ONE = "one_for_one"    # only the dead child
    ONE_FOR_ALL = "one_for_all"    # every child
    REST_FOR_ONE = "rest_for_one"  # the dead child and those started after it


class RestartKind(enum.Enum):
    """When a child is restarted (Erlang/OTP child restart types)."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after an abnormal exit
    TEMPORARY = "temporary"  # never


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    """A supervisor's restart intensity and backoff."""

    max_restarts: int = 5          # more than this many restarts ...
    within_s: float = 30.0         # ... within this window escalates to the parent
    backoff_min_s: float = 0.2     # first restart delay before jitter
    backoff_max_s: float = 30.0    # cap of the exponential delay
    reset_after_s: float = 60.0    # healthy this long → backoff starts again from min


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ComponentSpec:
    """One node of the supervision tree, by its ``type/name`` id."""

    component_id: str
    component_type: str
    actor_class: str                       # importable "package.module.Class"
    settings: Mapping[str, Any]            # validated, defaults merged; plain data
    restart: RestartKind = RestartKind.PERMANENT
    shutdown_timeout_s: float = 5.0        # graceful stop budget before SIGKILL
    strategy: Strategy | None = None       # supervisors only
    policy: RestartPolicy | None = None    # supervisors only
    children: tuple[str, ...] = ()         # supervisors only, in start order (downstream first)

    @property
    def is_supervisor(self) -> bool:
        return self.strategy is not None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LinkSpec:
    """A producer → consumer link with its credit window and overflow policy."""

    link_id: str                 # "<producer_id>-><consumer_id>"
    producer_id: str
    consumer_id: str
    window: int = 8              # max unacknowledged batches (4-8 is the TCP sweet spot)
    overflow: Overflow = Overflow.BLOCK
    request: bool = False        # request link (e.g. cloud commands): exempt from cycle checks


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OperatorSettings:
    """Process-wide settings."""

    cluster_name: str = "default"
    status_host: str = "0.0.0.0"       # published: the chart's probes reach it
    status_port: int = 8081
    admin_port: int = 0                # thespian admin port; 0 = pick a free loopback port
    log_format: str = "text"           # "text" or "json"
    log_level: str = "INFO"
    drain_timeout_s: float = 10.0
    shutdown_timeout_s: float = 20.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Topology:
    """A whole validated topology: settings, the component tree and the links."""

    operator: OperatorSettings
    root_id: str
    components: Mapping[str, ComponentSpec]
    links: tuple[LinkSpec, ...] = ()

    def to_document(self) -> dict[str, Any]:
        """Plain-data form (enums as values) that ``from_document`` rebuilds exactly."""
        return {
            "operator": dataclasses.asdict(self.operator),
            "root_id": self.root_id,
            "components": [_component_document(spec) for spec in self.components.values()],
            "links": [{**dataclasses.asdict(link), "overflow": link.overflow.value}
                      for link in self.links],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Topology:
        """Rebuild a topology from ``to_document`` output (already validated: no checks here)."""
        components = {}
        for raw in document["components"]:
            spec = _component_from_document(raw)
            components[spec.component_id] = spec
        return cls(
            operator=OperatorSettings(**document["operator"]),
            root_id=document["root_id"],
            components=components,
            links=tuple(LinkSpec(**{**raw, "overflow": Overflow(raw["overflow"])})
                        for raw in document["links"]),
        )

    def parent_of(self, component_id: str) -> str | None:
        """The supervisor whose children include ``component_id`` (None for the root)."""
        for spec in self.components.values():
            if component_id in spec.children:
                return spec.component_id
        return None

    def subtree(self, component_id: str) -> list[str]:
        """``component_id`` and every descendant, depth first in start order."""
        found = [component_id]
        for child in self.components[component_id].children:
            found.extend(self.subtree(child))
        return found


def _component_document(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "component_id": spec.component_id,
        "component_type": spec.component_type,
        "actor_class": spec.actor_class,
        "settings": dict(spec.settings),
        "restart": spec.restart.value,
        "shutdown_timeout_s": spec.shutdown_timeout_s,
        "strategy": spec.strategy.value if spec.strategy else None,
        "policy": dataclasses.asdict(spec.policy) if spec.policy else None,
        "children": list(spec.children),
    }


def _component_from_document(raw: Mapping[str, Any]) -> ComponentSpec:
    return ComponentSpec(
        component_id=raw["component_id"],
        component_type=raw["component_type"],
        actor_class=raw["actor_class"],
        settings=dict(raw["settings"]),
        restart=RestartKind(raw["restart"]),
        shutdown_timeout_s=float(raw["shutdown_timeout_s"]),
        strategy=Strategy(raw["strategy"]) if raw["strategy"] else None,
        policy=RestartPolicy(**raw["policy"]) if raw["policy"] else None,
        children=tuple(raw["children"]),
    )
