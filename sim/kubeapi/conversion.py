"""Conversion between the stored form of a resource and the form one API version serves.

kube-apiserver keeps core ``v1`` Events and ``events.k8s.io/v1`` Events in one storage
(``/registry/events``): an event written through either API is listed and watched through both.
This module owns that mapping (the field renames of upstream's
``pkg/apis/events/v1/conversion.go``); every other resource is stored as served, so its view is
the stored object itself. Conversions never fail: absent fields stay absent (as upstream, a core
event written without ``eventTime`` is served with no ``eventTime`` by events.k8s.io/v1).
"""

from __future__ import annotations

from typing import Any

from sim.kubeapi import resources

Obj = dict[str, Any]
# (core v1 Event field, events.k8s.io/v1 Event field)
EVENT_RENAMES = (
    ("involvedObject", "regarding"), ("message", "note"),
    ("reportingComponent", "reportingController"), ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount"),
)


def converts(resource: resources.ResourceType) -> bool:
    """True when ``resource`` is served from another resource's storage."""
    return resource.storage != resource.key


def _rename(obj: Obj, pairs: tuple[tuple[str, str], ...]) -> Obj:
    renamed = dict(obj)
    for source, target in pairs:
        if source in renamed:
            renamed[target] = renamed.pop(source)
    return renamed


def to_view(resource: resources.ResourceType, stored: Obj) -> Obj:
    """The object as ``resource`` serves it (a new dict when converted, else ``stored``)."""
    if not converts(resource):
        return stored
    return _rename(stored, EVENT_RENAMES)


def to_storage(resource: resources.ResourceType, served: Obj) -> Obj:
    """The stored form of an object written through ``resource``."""
    if not converts(resource):
        return served
    return _rename(served, tuple((target, source) for source, target in EVENT_RENAMES))
