"""A minimal OpenAPI v3 index and per group-version documents.

kubectl (1.27+) validates manifests before ``apply``/``create`` by checking, in
``/openapi/v3/<group-version>``, that each kind's PATCH operation accepts the ``fieldValidation``
query parameter; with that, validation is delegated to the server instead of failing with
"failed to download openapi". This module owns those documents: every served kind gets its
item path with a PATCH operation tagged ``x-kubernetes-group-version-kind``. Schemas are not
published (``kubectl explain`` is out of scope), so strategic-merge media types are left out
and kubectl computes client-side apply patches from its compiled-in types. ``/openapi/v2``
is not served (404), which kubectl tolerates once v3 is present.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sim.kubeapi import resources

_QUERY_PARAMETERS = ("fieldValidation", "dryRun", "fieldManager", "force")
_PATCH_MEDIA = ("application/apply-patch+yaml", "application/json-patch+json",
                "application/merge-patch+json")


def _prefix(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _group_versions() -> list[tuple[str, str]]:
    return sorted({(r.group, v) for r in resources.CATALOGUE for v in r.versions})


def group_version_document(group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for resource in resources.in_group_version(group, version):
        scope = "namespaces/{namespace}/" if resource.namespaced else ""
        path = f"/{_prefix(group, version)}/{scope}{resource.plural}/{{name}}"
        gvk = {"group": group, "version": version, "kind": resource.kind}
        paths[path] = {"patch": {
            "operationId": f"patch{resource.kind}",
            "x-kubernetes-group-version-kind": gvk,
            "x-kubernetes-action": "patch",
            "parameters": [{"name": n, "in": "query", "schema": {"type": "string",
                                                                 "uniqueItems": True}}
                           for n in _QUERY_PARAMETERS],
            "requestBody": {"content": {m: {"schema": {"type": "object"}}
                                        for m in _PATCH_MEDIA}, "required": True},
            "responses": {"200": {"description": "OK"}},
        }}
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes (simulated)", "version": "v1.33.0"},
            "paths": paths, "components": {"schemas": {}}}


def document(path: str) -> dict[str, Any] | None:
    """The OpenAPI v3 index or a group-version document for ``path``; None if not served."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts[:2] != ["openapi", "v3"]:
        return None
    rest = parts[2:]
    if not rest:
        index = {}
        for group, version in _group_versions():
            prefix = _prefix(group, version)
            digest = hashlib.sha256(json.dumps(group_version_document(
                group, version), sort_keys=True).encode()).hexdigest()[:32].upper()
            index[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={digest}"}
        return {"paths": index}
    if rest[0] == "api" and len(rest) == 2 and resources.in_group_version("", rest[1]):
        return group_version_document("", rest[1])
    if rest[0] == "apis" and len(rest) == 3 and resources.in_group_version(rest[1], rest[2]):
        return group_version_document(rest[1], rest[2])
    return None
