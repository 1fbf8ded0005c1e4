"""Topologies built in code for the runtime's tests (unit and system)."""

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

SUPERVISOR = "actors.runtime.supervisor_actor.Supervisor"
SOURCE = "actors.runtime.synthetic_actor.SyntheticSource"
AGGREGATOR = "actors.runtime.synthetic_actor.SyntheticAggregator"
SINK = "actors.runtime.synthetic_actor.SyntheticSink"

FAST_POLICY = RestartPolicy(max_restarts=5, within_s=30.0, backoff_min_s=0.05,
                            backoff_max_s=0.2, reset_after_s=60.0)


def supervisor(cid, children, strategy=Strategy.ONE_FOR_ONE, policy=FAST_POLICY,
               restart=RestartKind.PERMANENT, shutdown_timeout_s=3.0):
    return ComponentSpec(component_id=cid, component_type="supervisor", actor_class=SUPERVISOR,
                         settings={"ready_timeout_s": 5.0}, restart=restart,
                         shutdown_timeout_s=shutdown_timeout_s, strategy=strategy,
                         policy=policy, children=tuple(children))


def leaf(cid, actor_class, shutdown_timeout_s=1.0, restart=RestartKind.PERMANENT, **settings):
    return ComponentSpec(component_id=cid, component_type=cid.split("/")[0],
                         actor_class=actor_class, settings=settings, restart=restart,
                         shutdown_timeout_s=shutdown_timeout_s)


def link(producer, consumer, window=4, overflow=Overflow.BLOCK):
    return LinkSpec(link_id=f"{producer}->{consumer}", producer_id=producer,
                    consumer_id=consumer, window=window, overflow=overflow)


def topology(specs, links=(), admin_port=0, root_id="root"):
    return Topology(operator=OperatorSettings(admin_port=admin_port, log_level="WARNING"),
                    root_id=root_id, components={s.component_id: s for s in specs},
                    links=tuple(links))


def pipeline(source_settings, sink_settings, window=4, overflow=Overflow.BLOCK,
             policy=FAST_POLICY, admin_port=0):
    """root → [sink_sup → [sink], source/a]; one link source/a → sink/a."""
    return topology([
        supervisor("root", ["sinks", "source/a"], policy=policy),
        supervisor("sinks", ["sink/a"], policy=policy),
        leaf("sink/a", SINK, **sink_settings),
        leaf("source/a", SOURCE, **source_settings),
    ], [link("source/a", "sink/a", window=window, overflow=overflow)], admin_port=admin_port)


def find(status, component_id):
    """The ComponentStatus of ``component_id`` anywhere in the tree (or None)."""
    if status is None:
        return None
    if status.component_id == component_id:
        return status
    for child in status.children:
        found = find(child, component_id)
        if found is not None:
            return found
    return None


def counters(status):
    return dict(status.counters)


def conserved(status):
    """received = forwarded + dropped + in_flight on every link in the tree."""
    links = list(status.links)
    for child in status.children:
        if not conserved(child):
            return False
    return all(lk.received == lk.forwarded + lk.dropped + lk.in_flight for lk in links)


def all_links(status):
    found = list(status.links)
    for child in status.children:
        found.extend(all_links(child))
    return found


def pump_status(system, predicate, seconds=5.0, step=0.05):
    """Pump a simpleSystemBase system (actors run only inside ask/listen) until
    ``predicate(status)`` holds or ``seconds`` pass; returns the last status seen."""
    status = None
    for _ in range(int(seconds / step)):
        status = system.status(1.0)
        if status is not None and predicate(status):
            return status
        system.run_for(step)
    return status
