"""The component registry: component type → actor class path and settings schema.

The runtime registers its own types here (``supervisor`` and the synthetic load generators used
by the demo and the tests). Each domain package registers its types from its own module
``actors/<domain>/settings.py`` by exporting ``COMPONENT_TYPES: tuple[ComponentType, ...]``;
``default_registry()`` imports the fixed list ``DOMAIN_SETTINGS_MODULES`` and skips a module
that does not exist yet (a domain not written yet has no types). A module that exists but fails
to import, or a type registered twice, raises ``RegistryError``: a broken build must not start
with a silently shrunken registry. Actor classes are named by string and never imported here,
so this module (and topology validation) imports no thespian.

A domain module declares, for example::

    COMPONENT_TYPES = (ComponentType(
        name="metrics_ring", actor_class="actors.metrics.metrics_ring_actor.MetricsRing",
        doc="newest N points per series",
        settings=(Setting(name="retention", kind=Kind.DURATION, default=1800.0, minimum=0,
                          exclusive_minimum=True, doc="points older than this are evicted"),
                  Setting(name="rules", kind=Kind.ANY, default=(), doc="free-form, see check")),
        check=lambda settings: RingSettings.from_mapping(settings).problems()),)

``check`` yields ``(key, message)`` pairs for what the per-key schema cannot express.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from actors.runtime.settings_schema import ComponentType, Kind, Setting

__all__ = ["DOMAIN_SETTINGS_MODULES", "ComponentRegistry", "RegistryError", "default_registry",
           "runtime_component_types"]

TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")   # the collector's type rule, lower case

# Future types: kube_watcher, pod_logs (kube), hubble_flows (flows), envoy_als (access_logs),
# otlp_receiver, metrics_ring (metrics), cloud_uplink (uplink), command_runner (commands).
DOMAIN_SETTINGS_MODULES: tuple[str, ...] = (
    "actors.kube.settings",
    "actors.flows.settings",
    "actors.access_logs.settings",
    "actors.metrics.settings",
    "actors.uplink.settings",
    "actors.commands.settings",
)


class RegistryError(Exception):
    """A component type could not be registered (bad name, duplicate, broken domain module)."""


class ComponentRegistry:
    """Component types by name; ``register`` refuses duplicates and malformed names."""

    def __init__(self, types: Iterable[ComponentType] = ()) -> None:
        self._types: dict[str, ComponentType] = {}
        for component_type in types:
            self.register(component_type)

    def register(self, component_type: ComponentType) -> None:
        name = component_type.name
        if not TYPE_NAME.match(name):
            raise RegistryError(f"component type {name!r} is not lower_snake_case")
        if name in self._types:
            raise RegistryError(f"component type {name!r} is registered twice")
        self._types[name] = component_type

    def get(self, name: str) -> ComponentType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[ComponentType]:
        return iter(self._types[name] for name in self.names())


def _supervisor() -> ComponentType:
    backoff = (
        Setting(name="min", kind=Kind.DURATION, default=0.2, minimum=0, exclusive_minimum=True,
                doc="first restart delay before jitter"),
        Setting(name="max", kind=Kind.DURATION, default=30.0, minimum=0, exclusive_minimum=True,
                doc="cap of the exponential restart delay"),
        Setting(name="reset_after", kind=Kind.DURATION, default=60.0, minimum=0,
                exclusive_minimum=True,
                doc="a child healthy this long starts its backoff again from min"),
    )
    return ComponentType(
        name="supervisor", actor_class="actors.runtime.supervisor_actor.Supervisor",
        doc="restarts its children by strategy, intensity and backoff; escalates past intensity",
        supervisor=True,
        settings=(
            Setting(name="strategy", kind=Kind.ENUM, default="one_for_one",
                    choices=("one_for_one", "one_for_all", "rest_for_one"),
                    doc="which siblings restart with a dead child"),
            Setting(name="max_restarts", kind=Kind.INT, default=5, minimum=0,
                    doc="more restarts than this within 'within' escalate to the parent"),
            Setting(name="within", kind=Kind.DURATION, default=30.0, minimum=0,
                    exclusive_minimum=True, doc="restart intensity window"),
            Setting(name="backoff", kind=Kind.MAPPING, fields=backoff,
                    doc="exponential restart backoff with full jitter"),
            Setting(name="ready_timeout_s", kind=Kind.FLOAT, default=10.0, minimum=0,
                    exclusive_minimum=True,
                    doc="a child not Ready this long after creation counts as failed"),
            Setting(name="children", kind=Kind.STR_LIST, default=(),
                    doc="component ids in start order (downstream first); stopped in reverse"),
        ),
        check=_check_supervisor,
    )


def _check_supervisor(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    backoff = settings["backoff"]
    if backoff["min"] > backoff["max"]:
        yield "backoff.min", "must be ≤ 'backoff.max'"


def runtime_component_types() -> tuple[ComponentType, ...]:
    """The types the runtime itself provides."""
    synthetic = "actors.runtime.synthetic_actor."
    return (
        _supervisor(),
        ComponentType(
            name="synthetic_source", actor_class=synthetic + "SyntheticSource",
            doc="generates records at a fixed rate (demo and load tests)",
            settings=(
                Setting(name="rate_per_s", kind=Kind.FLOAT, default=1000.0, minimum=0,
                        exclusive_minimum=True, doc="records per second"),
                Setting(name="batch_records", kind=Kind.INT, default=100, minimum=1,
                        maximum=100_000, doc="records per batch"),
                Setting(name="record_bytes", kind=Kind.INT, default=64, minimum=1,
                        maximum=1 << 20, doc="payload bytes per record"),
                Setting(name="total", kind=Kind.INT, default=0, minimum=0,
                        doc="stop after this many records; 0 = never stop"),
                Setting(name="exit_when_done", kind=Kind.BOOL, default=False,
                        doc="exit normally once `total` records were emitted"),
            )),
        ComponentType(
            name="synthetic_thread_source", actor_class=synthetic + "SyntheticThreadSource",
            doc="an adapter thread feeds records through the I/O bridge (bridge tests)",
            settings=(
                Setting(name="total", kind=Kind.INT, default=100_000, minimum=1,
                        doc="records the thread produces"),
                Setting(name="batch_records", kind=Kind.INT, default=100, minimum=1,
                        maximum=100_000, doc="records per emitted batch"),
                Setting(name="chunk_records", kind=Kind.INT, default=100, minimum=1,
                        maximum=100_000, doc="records per bridge item"),
                Setting(name="queue_capacity", kind=Kind.INT, default=16, minimum=1,
                        maximum=100_000, doc="bridge queue bound (items)"),
            )),
        ComponentType(
            name="synthetic_aggregator", actor_class=synthetic + "SyntheticAggregator",
            doc="merges incoming batches and forwards one batch per flush_records records",
            settings=(
                Setting(name="flush_records", kind=Kind.INT, default=1000, minimum=1,
                        doc="records per forwarded batch"),
                Setting(name="flush_interval_s", kind=Kind.FLOAT, default=0.2, minimum=0.01,
                        doc="forward a partial batch after this long"),
            )),
        ComponentType(
            name="synthetic_sink", actor_class=synthetic + "SyntheticSink",
            doc="consumes batches, optionally slowly (backpressure tests)",
            settings=(
                Setting(name="delay_per_batch_s", kind=Kind.FLOAT, default=0.0, minimum=0,
                        doc="simulated work per batch, in seconds"),
                Setting(name="block_handler_s", kind=Kind.FLOAT, default=0.0, minimum=0,
                        doc="test only: block the first batch's handler this long"),
            )),
    )


def default_registry(modules: Iterable[str] = DOMAIN_SETTINGS_MODULES) -> ComponentRegistry:
    """The runtime types plus every domain module's ``COMPONENT_TYPES``."""
    registry = ComponentRegistry(runtime_component_types())
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and module_name.startswith(error.name):
                continue  # the domain (or its settings module) is not written yet
            raise RegistryError(f"cannot import {module_name}: {error}") from error
        except Exception as error:
            raise RegistryError(f"cannot import {module_name}: {error}") from error
        for component_type in getattr(module, "COMPONENT_TYPES", ()):
            if not isinstance(component_type, ComponentType):
                raise RegistryError(f"{module_name}.COMPONENT_TYPES holds {component_type!r}, "
                                    "not a ComponentType")
            registry.register(component_type)
    return registry
