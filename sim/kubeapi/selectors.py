"""Label and field selector parsing and matching, with kube-apiserver's grammar and errors.

Label selectors support ``=``, ``==``, ``!=``, ``in``, ``notin``, ``key`` (exists) and ``!key``.
Field selectors support ``=``, ``==`` and ``!=`` over the fields each kind allows (the real
server rejects others with 400 "field label not supported", and so does this one). A malformed
selector raises a 400 :class:`~sim.kubeapi.status.ApiError`; matching never raises.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from sim.kubeapi import status

Obj = dict[str, Any]

_LABEL_TERM = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9./_-]+)\s*"
    r"(?:(?P<op>==|!=|=|\s+in\s+|\s+notin\s+)\s*(?P<value>.*?))?\s*$")
_SET_VALUE = re.compile(r"^\(\s*(.*?)\s*\)$")


@dataclasses.dataclass(frozen=True, slots=True)
class Requirement:
    """One ``key op values`` term; ``op`` is one of = != in notin exists !."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # != and notin


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``( )`` value sets."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def parse_label_selector(selector: str) -> list[Requirement]:
    requirements = []
    for term in _split_terms(selector or ""):
        found = _LABEL_TERM.match(term)
        if not found:
            raise status.bad_request(f"unable to parse requirement: {term.strip()!r}")
        key, op, value = found["key"], (found["op"] or "").strip(), found["value"]
        if found["neg"]:
            if op:
                raise status.bad_request(f"unable to parse requirement: {term.strip()!r}")
            requirements.append(Requirement(key, "!"))
        elif not op:
            requirements.append(Requirement(key, "exists"))
        elif op in ("in", "notin"):
            values = _SET_VALUE.match(value or "")
            if not values:
                raise status.bad_request(
                    f"unable to parse requirement: found '{value}', expected: '('")
            items = frozenset(v.strip() for v in values.group(1).split(",") if v.strip())
            requirements.append(Requirement(key, op, items))
        else:
            requirements.append(Requirement(key, "=" if op in ("=", "==") else "!=",
                                            frozenset([value or ""])))
    return requirements


def labels_match(requirements: list[Requirement], obj: Obj) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return all(r.matches(labels) for r in requirements)


def _path(*parts: str) -> Callable[[Obj], str]:
    def read(obj: Obj) -> str:
        value: Any = obj
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else str(value)
    return read


_COMMON = {"metadata.name": _path("metadata", "name"),
           "metadata.namespace": _path("metadata", "namespace")}
_EVENT_FIELDS = {
    **{f"involvedObject.{f}": _path("involvedObject", f) for f in (
        "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
    "reason": _path("reason"), "source": _path("source", "component"),
    "type": _path("type"), "reportingComponent": _path("reportingComponent"),
}
_EVENTS_V1_FIELDS = {
    **{f"regarding.{f}": _path("regarding", f) for f in (
        "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
    "reason": _path("reason"), "type": _path("type"),
    "reportingController": _path("reportingController"),
}
FIELDS_BY_KEY: dict[str, dict[str, Callable[[Obj], str]]] = {
    "pods": {"spec.nodeName": _path("spec", "nodeName"), "status.phase": _path("status", "phase"),
             "spec.restartPolicy": _path("spec", "restartPolicy"),
             "spec.serviceAccountName": _path("spec", "serviceAccountName"),
             "status.podIP": _path("status", "podIP")},
    "events": _EVENT_FIELDS,
    "events.events.k8s.io": _EVENTS_V1_FIELDS,
    "nodes": {"spec.unschedulable": _path("spec", "unschedulable")},
    "namespaces": {"status.phase": _path("status", "phase")},
    "secrets": {"type": _path("type")},
    "replicasets.apps": {"status.replicas": _path("status", "replicas")},
}


@dataclasses.dataclass(frozen=True, slots=True)
class FieldRequirement:
    """``field = value`` or ``field != value`` over one supported field."""

    field: str
    equal: bool
    value: str
    read: Callable[[Obj], str]

    def matches(self, obj: Obj) -> bool:
        return (self.read(obj) == self.value) == self.equal


def parse_field_selector(selector: str, key: str) -> list[FieldRequirement]:
    supported = {**_COMMON, **FIELDS_BY_KEY.get(key, {})}
    requirements = []
    for term in _split_terms(selector or ""):
        found = re.match(r"^\s*([A-Za-z0-9._-]+)\s*(==|!=|=)\s*(.*?)\s*$", term)
        if not found:
            raise status.bad_request(f"invalid selector: '{selector}'; can't understand "
                                     f"'{term.strip()}'")
        field, op, value = found.groups()
        if field not in supported:
            raise status.bad_request(f"field label not supported: {field}")
        requirements.append(FieldRequirement(field, op != "!=", value, supported[field]))
    return requirements


def fields_match(requirements: list[FieldRequirement], obj: Obj) -> bool:
    return all(r.matches(obj) for r in requirements)


@dataclasses.dataclass(frozen=True, slots=True)
class Filter:
    """A parsed label + field selector pair; an empty filter matches everything."""

    labels: list[Requirement]
    fields: list[FieldRequirement]

    @property
    def empty(self) -> bool:
        return not self.labels and not self.fields

    def matches(self, obj: Obj) -> bool:
        return labels_match(self.labels, obj) and fields_match(self.fields, obj)


def build_filter(label_selector: str, field_selector: str, key: str) -> Filter:
    return Filter(parse_label_selector(label_selector),
                  parse_field_selector(field_selector, key))
