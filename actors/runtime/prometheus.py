"""Prometheus text exposition (format 0.0.4) of a ``ComponentStatus`` tree, plus tree walks.

``render_metrics`` turns one status snapshot into the text served on ``GET /metrics``:

- per component (labels ``component``, ``type``): ``kestrel_component_up`` (1 when RUNNING),
  ``kestrel_component_restarts_total``, ``kestrel_component_uptime_seconds``, and each of its own
  counters as ``kestrel_<counter>`` (a counter when the name ends in ``_total``, else a gauge);
- per link (labels ``link``, ``from``, ``to``, ``overflow``):
  ``kestrel_link_{received,forwarded,dropped}_records_total``, ``kestrel_link_in_flight_records``,
  ``kestrel_link_in_flight_batches``, ``kestrel_link_window_batches``;
- ``kestrel_links_conserved`` (1 when received = forwarded + dropped + in flight on every link)
  and ``kestrel_actor_system_up`` (0 when the actor system did not answer: the only sample then).

Label values are escaped (backslash, double quote, newline); counter names that are not valid
metric names are sanitized, and one that would collide with a built-in family is renamed to
``kestrel_counter_<name>``. Pure functions: no I/O, never raise on odd values (NaN, ±Inf).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from messages.runtime import ComponentState, ComponentStatus, LinkStatus

__all__ = ["CONTENT_TYPE", "all_links", "escape_label_value", "iter_components",
           "link_balanced", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COMPONENT_FAMILIES = (
    ("kestrel_component_up", "gauge", "1 when the component is running, else 0"),
    ("kestrel_component_restarts_total", "counter", "restarts of the component since start"),
    ("kestrel_component_uptime_seconds", "gauge", "seconds since the component last started"),
)
_LINK_FAMILIES = (
    ("kestrel_link_received_records_total", "counter", "records the producer took in"),
    ("kestrel_link_forwarded_records_total", "counter", "records the consumer acknowledged"),
    ("kestrel_link_dropped_records_total", "counter", "records dropped on overflow"),
    ("kestrel_link_in_flight_records", "gauge", "records sent and not yet acknowledged"),
    ("kestrel_link_in_flight_batches", "gauge", "batches sent and not yet acknowledged"),
    ("kestrel_link_window_batches", "gauge", "credit window of the link, in batches"),
)
_GLOBAL_FAMILIES = (
    ("kestrel_actor_system_up", "gauge", "1 when the actor system answered the status probe"),
    ("kestrel_links_conserved", "gauge",
     "1 when received = forwarded + dropped + in flight on every link"),
)
_RESERVED = {name for name, _, _ in _COMPONENT_FAMILIES + _LINK_FAMILIES + _GLOBAL_FAMILIES}
_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")

Sample = tuple[dict[str, str], float]


def iter_components(status: ComponentStatus) -> Iterator[ComponentStatus]:
    """The component and its whole subtree, depth first (bounded by the tree itself)."""
    stack = [status]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def all_links(status: ComponentStatus) -> list[LinkStatus]:
    """Every link reported anywhere in the tree, once per link id, sorted by id."""
    found: dict[str, LinkStatus] = {}
    for node in iter_components(status):
        for link in node.links:
            found.setdefault(link.link_id, link)
    return [found[link_id] for link_id in sorted(found)]


def link_balanced(link: LinkStatus) -> bool:
    """The conservation law every link must satisfy at every instant."""
    return link.received == link.forwarded + link.dropped + link.in_flight


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(float(value))


def _counter_family(counter_name: str) -> str:
    name = "kestrel_" + _INVALID_NAME_CHARS.sub("_", counter_name)
    return "kestrel_counter_" + name.removeprefix("kestrel_") if name in _RESERVED else name


def render_metrics(status: ComponentStatus | None) -> str:
    """The whole exposition for one snapshot (None = the actor system did not answer)."""
    families: dict[str, tuple[str, str, list[Sample]]] = {
        name: (kind, doc, []) for name, kind, doc in _GLOBAL_FAMILIES}
    families["kestrel_actor_system_up"][2].append(({}, 0.0 if status is None else 1.0))
    if status is None:
        del families["kestrel_links_conserved"]
        return _render(families)
    for name, kind, doc in _COMPONENT_FAMILIES + _LINK_FAMILIES:
        families[name] = (kind, doc, [])
    for node in iter_components(status):
        labels = {"component": node.component_id, "type": node.component_type}
        families["kestrel_component_up"][2].append(
            (labels, 1.0 if node.state is ComponentState.RUNNING else 0.0))
        families["kestrel_component_restarts_total"][2].append((labels, float(node.restarts)))
        families["kestrel_component_uptime_seconds"][2].append(
            (labels, round(node.uptime_s, 3)))
        seen: set[str] = set()
        for counter_name, value in node.counters:
            family = _counter_family(counter_name)
            if family in seen:
                continue  # two counter names that sanitize alike: keep the first
            seen.add(family)
            kind = "counter" if family.endswith("_total") else "gauge"
            doc = f"component counter {counter_name}"
            families.setdefault(family, (kind, doc, []))[2].append((labels, float(value)))
    links = all_links(status)
    for link in links:
        labels = {"link": link.link_id, "from": link.producer_id, "to": link.consumer_id,
                  "overflow": link.overflow.value}
        for name, value in (("kestrel_link_received_records_total", link.received),
                            ("kestrel_link_forwarded_records_total", link.forwarded),
                            ("kestrel_link_dropped_records_total", link.dropped),
                            ("kestrel_link_in_flight_records", link.in_flight),
                            ("kestrel_link_in_flight_batches", link.batches_in_flight),
                            ("kestrel_link_window_batches", link.window)):
            families[name][2].append((labels, float(value)))
    conserved = all(link_balanced(link) for link in links)
    families["kestrel_links_conserved"][2].append(({}, 1.0 if conserved else 0.0))
    return _render(families)


def _render(families: dict[str, tuple[str, str, list[Sample]]]) -> str:
    lines: list[str] = []
    for name in sorted(families):
        kind, doc, samples = families[name]
        if not samples:
            continue
        lines.append(f"# HELP {name} {_escape_help(doc)}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            rendered = ",".join(f'{key}="{escape_label_value(text)}"'
                                for key, text in labels.items())
            lines.append(f"{name}{{{rendered}}} {_format_value(value)}" if rendered
                         else f"{name} {_format_value(value)}")
    return "\n".join(lines) + "\n"
