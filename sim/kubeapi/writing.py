"""Writes: create, update, patch (merge/JSON/strategic), server-side apply, delete, dry-run.

Owns request-level write semantics on top of :class:`~sim.kubeapi.store.ObjectStore`: body
decoding and kind/namespace/name checks (400/422), ``generateName``, optimistic concurrency
(409 on a stale ``metadata.resourceVersion``), the ``status`` subresource split (main endpoint
keeps status, ``/status`` changes only status), ``managedFields`` bookkeeping, ``dryRun=All``
(everything but the commit) and ``SelfSubjectAccessReview``. Returns (HTTP code, object).
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import uuid
from typing import Any

from sim.kubeapi import (
    collecting,
    conversion,
    managed_fields,
    patching,
    protobuf_review,
    rbac,
    routing,
    selectors,
    status,
    validation,
)
from sim.kubeapi.store import ObjectStore, rfc3339

Obj = dict[str, Any]
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml",
               "application/apply-patch+cbor")


def decode_body(body: bytes, content_type: str = "application/json") -> Any:
    """JSON (or YAML for yaml media types) request bodies; protobuf/CBOR get 415 like a server
    that does not serve those encodings (only SelfSubjectAccessReview is decoded from protobuf)."""
    media = content_type.split(";")[0].strip()
    if media in ("application/vnd.kubernetes.protobuf", "application/cbor"):
        raise status.ApiError(415, "the body of the request was in an unknown format - "
                                   "accepted media types include: application/json, "
                                   "application/yaml")
    if media in ("application/apply-patch+yaml", "application/yaml"):
        try:
            return json.loads(body)
        except ValueError:
            import yaml

            try:
                return yaml.safe_load(body)
            except yaml.YAMLError as error:
                raise status.bad_request(f"error decoding YAML: {error}") from None
    try:
        return json.loads(body or b"null")
    except ValueError as error:
        raise status.bad_request(f"couldn't get version/kind; json parse error: {error}") from None


def _manager(params: dict[str, str], user_agent: str) -> str:
    return params.get("fieldManager") or (user_agent.split("/")[0] or "unknown")


class WriteHandler:
    """Executes one write request against the store."""

    def __init__(self, store: ObjectStore, route: routing.Route, params: dict[str, str],
                 identity: rbac.Identity, user_agent: str) -> None:
        self.store, self.route, self.params, self.identity = store, route, params, identity
        self.resource = route.resource
        self.dry_run = "All" in params.get("dryRun", "")
        self.manager = _manager(params, user_agent)
        self.content_type = "application/json"

    def _now(self) -> str:
        return rfc3339(self.store.clock())

    def _check_identity(self, obj: Any, *, for_create: bool) -> Obj:
        if not isinstance(obj, dict):
            raise status.bad_request("the body of the request must be a JSON object")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != self.resource.kind:
            raise status.bad_request(f"the kind of the object ({kind}) does not match the "
                                     f"resource ({self.resource.kind})")
        if api_version and api_version not in [self.resource.api_version(v)
                                               for v in self.resource.versions]:
            raise status.bad_request(f"the API version in the data ({api_version}) does not "
                                     f"match the expected API version ({self.route.api_version})")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise status.bad_request("metadata must be an object")
        if self.resource.namespaced:
            given = meta.get("namespace")
            if given and given != self.route.namespace:
                raise status.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            meta["namespace"] = self.route.namespace
            if self.store.get_stored("namespaces", "", self.route.namespace) is None:
                raise status.not_found("namespaces", "", self.route.namespace)
        if for_create and not meta.get("name") and meta.get("generateName"):
            alphabet = string.ascii_lowercase + string.digits
            meta["name"] = meta["generateName"] + "".join(secrets.choice(alphabet)
                                                          for _ in range(5))
        if not meta.get("name"):
            raise status.invalid(self.resource.kind, self.resource.group, "", "metadata.name",
                                 "Required value: name or generateName is required")
        if self.route.name and meta["name"] != self.route.name:
            raise status.bad_request(f"the name of the object ({meta['name']}) does not match "
                                     f"the name on the URL ({self.route.name})")
        return obj

    def _commit_create(self, obj: Obj) -> tuple[int, Obj]:
        validation.check(self.resource, obj)
        if self.dry_run:
            if self.store.get_stored(self.resource.storage, self.route.namespace,
                                     obj["metadata"]["name"]) is not None:
                raise status.already_exists(self.resource.plural, self.resource.group,
                                            obj["metadata"]["name"])
            obj["metadata"].setdefault("uid", str(uuid.uuid4()))
            obj["metadata"].setdefault("creationTimestamp", self._now())
            return 201, self._out(obj)
        stored = self.store.create(self.resource.storage,
                                   conversion.to_storage(self.resource, obj))
        return 201, self._out(stored)

    def _out(self, stored: Obj) -> Obj:
        """The reply body: ``stored`` as this API serves it, with kind/apiVersion."""
        view = conversion.to_view(self.resource, stored)
        return {"kind": self.resource.kind, "apiVersion": self.route.api_version,
                **{k: v for k, v in view.items() if k not in ("kind", "apiVersion")}}

    def _current(self) -> Obj:
        """The current object as this API serves it (404 if missing)."""
        current = self.store.get(self.resource.storage, self.route.namespace, self.route.name)
        if current is None:
            raise status.not_found(self.resource.plural, self.resource.group, self.route.name)
        return conversion.to_view(self.resource, current)

    def _commit_update(self, before: Obj, after: Obj, expect_rv: str | None) -> tuple[int, Obj]:
        sub = self.route.subresource
        if self.resource.has_status and sub == "status":
            after = {**before, "status": after.get("status", {}),
                     "metadata": before["metadata"]}
        elif self.resource.has_status:  # the main endpoint ignores status changes
            if "status" in before:
                after["status"] = before["status"]
            else:
                after.pop("status", None)
        managed_fields.record_update(before, after, self.manager, self.route.api_version,
                                     self._now(), sub)
        validation.check(self.resource, after)
        if self.dry_run:
            if expect_rv and expect_rv != before["metadata"].get("resourceVersion"):
                raise status.conflict(self.resource.plural, self.resource.group,
                                      self.route.name)
            return 200, self._out(conversion.to_storage(self.resource, after))
        stored = self.store.replace(self.resource.storage,
                                    conversion.to_storage(self.resource, after),
                                    expect_rv=expect_rv)
        return 200, self._out(stored)

    # --------------------------------------------------------------- verbs
    def create(self, body: bytes) -> tuple[int, Obj]:
        if self.resource.plural == "selfsubjectaccessreviews":
            if body.startswith(protobuf_review.MAGIC):
                try:
                    return self._access_review(
                        protobuf_review.decode_self_subject_access_review(body))
                except ValueError as error:
                    raise status.bad_request(f"invalid protobuf body: {error}") from None
            return self._access_review(decode_body(body, self.content_type))
        obj = self._check_identity(decode_body(body, self.content_type), for_create=True)
        if self.resource.has_status:
            obj.pop("status", None)
        obj["metadata"].pop("resourceVersion", None)
        obj["metadata"]["managedFields"] = []
        managed_fields.record_update(None, obj, self.manager, self.route.api_version,
                                     self._now())
        return self._commit_create(obj)

    def update(self, body: bytes) -> tuple[int, Obj]:
        obj = self._check_identity(decode_body(body, self.content_type), for_create=False)
        before = self._current()
        expect_rv = obj["metadata"].get("resourceVersion") or None
        if expect_rv is None and self.resource.custom:
            raise status.invalid(self.resource.kind, self.resource.group, self.route.name,
                                 "metadata.resourceVersion",
                                 "Invalid value: 0x0: must be specified for an update")
        obj["metadata"].setdefault("managedFields", before["metadata"].get("managedFields", []))
        return self._commit_update(before, obj, expect_rv)

    def patch(self, body: bytes, content_type: str) -> tuple[int, Obj]:
        media = content_type.split(";")[0].strip()
        if media not in PATCH_TYPES or (self.resource.custom and "strategic" in media):
            raise status.ApiError(415, "the body of the request was in an unknown format - "
                                       "accepted media types include: "
                                       + ", ".join(PATCH_TYPES[:2] + PATCH_TYPES[3:]))
        document = decode_body(body, media)
        if media.startswith("application/apply-patch"):
            return self._apply(document)
        before = self._current()
        try:
            if media == "application/json-patch+json":
                after = patching.json_patch(before, document)
            elif media == "application/merge-patch+json":
                after = patching.merge_patch(before, document)
            else:
                after = patching.strategic_merge(before, document)
        except patching.PatchError as error:
            raise status.ApiError(422 if "test" in str(error) else 400, str(error)) from None
        if not isinstance(after, dict) or not isinstance(after.get("metadata"), dict):
            raise status.bad_request("the patch removed the object's metadata")
        expect_rv = None
        patched_rv = after["metadata"].get("resourceVersion")
        if patched_rv != before["metadata"].get("resourceVersion"):
            expect_rv = patched_rv  # a patch that names an RV is a precondition on it
        after["metadata"]["name"] = before["metadata"]["name"]
        after["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
        return self._commit_update(before, after, expect_rv or None)

    def _apply(self, document: Any) -> tuple[int, Obj]:
        if not self.params.get("fieldManager"):
            raise status.bad_request("PATCH /apply: fieldManager is required for apply requests")
        applied = self._check_identity(copy.deepcopy(document), for_create=False)
        if not document.get("kind") or not document.get("apiVersion"):
            raise status.bad_request("apiVersion and kind must be set in an apply request")
        force = routing.truthy(self.params.get("force"))
        stored = self.store.get(self.resource.storage, self.route.namespace, self.route.name)
        current = conversion.to_view(self.resource, stored) if stored is not None else None
        result = managed_fields.apply(current, applied, self.manager, force,
                                      self.route.api_version, self._now(),
                                      self.resource.plural, self.resource.group)
        result.pop("kind", None)
        result.pop("apiVersion", None)
        if current is None:
            result["metadata"].pop("resourceVersion", None)
            return self._commit_create(result)
        result["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self._commit_update(current, result, None)

    def delete(self, body: bytes) -> tuple[int, Obj]:
        options: Any = {}
        if body.strip() and "protobuf" not in self.content_type:  # protobuf options: ignored
            options = decode_body(body, self.content_type)
        if isinstance(options, dict) and "All" in (options.get("dryRun") or []):
            self.dry_run = True
        current = self._current()
        preconditions = (options or {}).get("preconditions") or {}
        if preconditions.get("resourceVersion") not in (
                None, current["metadata"]["resourceVersion"]) or preconditions.get(
                "uid") not in (None, current["metadata"]["uid"]):
            raise status.conflict(self.resource.plural, self.resource.group, self.route.name)
        if self.dry_run:
            return 200, self._out(current)
        if self.resource.key == "namespaces":
            return 200, self._out(collecting.terminate_namespace(self.store, self.route.name))
        deleted = self.store.delete(self.resource.storage, self.route.namespace, self.route.name)
        policy = str((options or {}).get("propagationPolicy")
                     or self.params.get("propagationPolicy") or "Background")
        if policy not in ("Background", "Foreground", "Orphan"):
            raise status.bad_request(f'propagationPolicy: Unsupported value: "{policy}"')
        collecting.collect(self.store, deleted["metadata"]["uid"], policy)
        if deleted["metadata"].get("deletionTimestamp") and deleted["metadata"].get(
                "finalizers"):
            return 200, self._out(deleted)
        return 200, status.success_status(self.route.name, self.resource.group,
                                          self.resource.plural, deleted["metadata"]["uid"])

    def delete_collection(self) -> tuple[int, Obj]:
        flt = selectors.build_filter(self.params.get("labelSelector", ""),
                                     self.params.get("fieldSelector", ""), self.resource.key)
        _, items = self.store.snapshot(self.resource.storage)
        doomed = [i for i in items if (not self.route.namespace
                                       or i.namespace == self.route.namespace)
                  and flt.matches(conversion.to_view(self.resource, i.obj))]
        out = [self._out(item.obj if self.dry_run else self.store.delete(
            self.resource.storage, item.namespace, item.name)) for item in doomed]
        return 200, {"kind": self.resource.list_kind, "apiVersion": self.route.api_version,
                     "metadata": {"resourceVersion": str(self.store.resource_version)},
                     "items": out}

    def _access_review(self, review: Any) -> tuple[int, Obj]:
        attrs = (review or {}).get("spec", {}).get("resourceAttributes") or {}
        resource = attrs.get("resource", "") + (
            f"/{attrs['subresource']}" if attrs.get("subresource") else "")
        allowed = self.identity.allowed(attrs.get("verb", ""), attrs.get("group", ""),
                                        resource, attrs.get("namespace", ""))
        result: dict[str, Any] = {"allowed": allowed}
        return 201, {"kind": "SelfSubjectAccessReview",
                     "apiVersion": "authorization.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": review.get("spec", {}),
                     "status": result}
