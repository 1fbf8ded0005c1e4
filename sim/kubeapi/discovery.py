"""Discovery documents: ``/version``, ``/api``, ``/apis``, ``/api/v1`` and ``/apis/{g}/{v}``.

Owns the legacy (non-aggregated) discovery format built from the resource catalogue, including
subresources such as ``pods/log`` and ``deployments/scale``. kubectl first asks for aggregated
discovery (``as=APIGroupDiscoveryList``) and falls back to these plain documents when the server
answers with ``application/json``, which this server always does. Unknown paths return ``None``.
"""

from __future__ import annotations

import zlib
from typing import Any

from sim.kubeapi import resources

VERSION_INFO = {
    "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "sim-kubeapi",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0",
    "compiler": "gc", "platform": "linux/amd64", "emulationMajor": "1", "emulationMinor": "33",
}


def _resource_entries(resource: resources.ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": resource.plural, "singularName": resource.singular,
        "namespaced": resource.namespaced, "kind": resource.kind,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        main["shortNames"] = list(resource.short_names)
    if resource.categories:
        main["categories"] = list(resource.categories)
    main["storageVersionHash"] = f"sim{zlib.crc32(resource.key.encode()):08x}"
    entries = [main]
    for sub in resource.subresources:
        kind, verbs = resource.kind, ["get", "patch", "update"]
        if sub == "log":
            kind, verbs = "Pod", ["get"]
        elif sub == "scale":
            kind = "Scale"
        entry: dict[str, Any] = {"name": f"{resource.plural}/{sub}", "singularName": "",
                                 "namespaced": resource.namespaced, "kind": kind,
                                 "verbs": verbs}
        if sub == "scale":
            entry.update(group="autoscaling", version="v1")
        entries.append(entry)
    return entries


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    served = resources.in_group_version(group, version)
    if not served:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [e for r in served for e in _resource_entries(r)]}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def document(path: str) -> dict[str, Any] | None:
    """The discovery document at ``path``, or None if ``path`` is not a discovery path."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts == ["version"]:
        return dict(VERSION_INFO)
    if parts == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                "serverAddress": "127.0.0.1:6443"}]}
    if parts == ["api", "v1"]:
        return resource_list("", "v1")
    if parts == ["apis"]:
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [_group(n, v) for n, v in resources.groups().items()]}
    if len(parts) == 2 and parts[0] == "apis":
        versions = resources.groups().get(parts[1])
        if versions is None:
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(parts[1], versions)}
    if len(parts) == 3 and parts[0] == "apis":
        return resource_list(parts[1], parts[2])
    return None
