"""Create/update validation for the fields real clients most often get wrong (422 Invalid).

Owns a small, upstream-worded subset of kube-apiserver's validation: object names must be
RFC 1123 subdomains (namespaces and nodes: labels), pods need containers with names and images,
workloads need a selector that matches their template labels and non-negative replicas. It is
deliberately not a schema validator: unknown fields are kept, as with ``fieldValidation=Ignore``.
Problems are returned as ``(field, detail)`` pairs; the write path raises one 422 for all.
"""

from __future__ import annotations

import re
from typing import Any

from sim.kubeapi import resources, status

Obj = dict[str, Any]
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_HELP = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                   "characters, '-' or '.', and must start and end with an alphanumeric "
                   "character (e.g. 'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_LABEL_HELP = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
               "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
               "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
_WORKLOADS = {"deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps"}


def _name_problems(resource: resources.ResourceType, name: str) -> list[tuple[str, str]]:
    if resource.plural in ("namespaces", "nodes") and resource.group == "":
        if len(name) > 63 or not _LABEL.match(name):
            return [("metadata.name", f'Invalid value: "{name}": {_LABEL_HELP}')]
        return []
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        return [("metadata.name", f'Invalid value: "{name}": {_SUBDOMAIN_HELP}')]
    return []


def _pod_spec_problems(spec: Any, prefix: str) -> list[tuple[str, str]]:
    if not isinstance(spec, dict) or not spec.get("containers"):
        return [(f"{prefix}.containers", "Required value")]
    problems = []
    for index, container in enumerate(spec["containers"]):
        where = f"{prefix}.containers[{index}]"
        if not isinstance(container, dict) or not container.get("name"):
            problems.append((f"{where}.name", "Required value"))
        elif not container.get("image"):
            problems.append((f"{where}.image", "Required value"))
    return problems


def _workload_problems(obj: Obj) -> list[tuple[str, str]]:
    spec = obj.get("spec") or {}
    problems = []
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        problems.append(("spec.replicas", f"Invalid value: {replicas!r}: must be greater than "
                                          "or equal to 0"))
    selector = (spec.get("selector") or {}).get("matchLabels")
    if not selector:
        problems.append(("spec.selector", "Required value"))
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        problems.append(("spec.template.metadata.labels",
                         f"Invalid value: {labels!r}: `selector` does not match template "
                         "`labels`"))
    return problems + _pod_spec_problems(template.get("spec"), "spec.template.spec")


def check(resource: resources.ResourceType, obj: Obj) -> None:
    """Raise one 422 Invalid Status listing every problem found in ``obj``."""
    name = str(obj.get("metadata", {}).get("name", ""))
    problems = _name_problems(resource, name)
    if resource.key == "pods":
        problems += _pod_spec_problems(obj.get("spec"), "spec")
    elif resource.key in _WORKLOADS:
        problems += _workload_problems(obj)
    if not problems:
        return
    summary = ", ".join(f"{field}: {detail}" for field, detail in problems)
    raise status.ApiError(
        422, f'{status.qualified(resource.kind, resource.group)} "{name}" is invalid: {summary}',
        details={"name": name, "group": resource.group, "kind": resource.kind,
                 "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}
                            for field, detail in problems]})
