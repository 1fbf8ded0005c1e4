"""Cloud-proposed manifests: server-side dry-run and apply, only when safe-apply is enabled.

With ``safe_apply`` off (the default) every dry-run and apply is refused before any API call.
With it on, ``ManifestApplier`` parses every YAML document (a v1 ``List`` is expanded), refuses
documents that are malformed or of a denied kind (RBAC, webhooks, CRDs, APIServices), resolves
each kind to its resource through API discovery (no plural guessing; cached per group/version),
and sends a server-side apply ``PATCH`` with ``fieldManager=kestrel-operator`` and
``dryRun=All``. ``apply`` runs the real server-side apply only after every document passed the
dry-run. Results are per document with the real status code and the Kubernetes Status message.
Every document is audited by kind, namespace, name and content hash, never by content.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import yaml

from actors.commands.audit import AuditLog
from actors.commands.k8s_request import KubeTransport, KubeTransportFailureError, status_message
from actors.commands.settings import CommandSettings

__all__ = ["ManifestApplier", "ManifestBatchResult", "ManifestOutcome"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_APPLY_TYPE = "application/apply-patch+yaml"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ManifestOutcome:
    """One document's result; ``status_code`` 0 means it was not sent to the API server."""

    index: int
    kind: str = ""
    namespace: str = ""
    name: str = ""
    ok: bool = False
    status_code: int = 0
    message: str = ""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ManifestBatchResult:
    """All documents of one dry-run or apply request."""

    ok: bool
    dry_run: bool
    outcomes: tuple[ManifestOutcome, ...] = ()
    error: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class _Target:
    index: int
    document: dict[str, Any]
    kind: str
    namespace: str
    name: str
    path: str


class ManifestApplier:
    """Dry-run and apply through server-side apply, behind the safe-apply switch."""

    def __init__(self, transport: KubeTransport, settings: CommandSettings,
                 audit: AuditLog | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._transport = transport
        self._settings = settings
        self._audit = audit or AuditLog()
        self._clock = clock
        self._discovery: dict[str, dict[str, tuple[str, bool]] | None] = {}

    def dry_run(self, *, request_id: str, yaml_text: str, default_namespace: str = "",
                timeout_s: float = 30.0) -> ManifestBatchResult:
        return self._run(request_id, yaml_text, default_namespace, timeout_s, apply=False)

    def apply(self, *, request_id: str, yaml_text: str, default_namespace: str = "",
              timeout_s: float = 30.0) -> ManifestBatchResult:
        return self._run(request_id, yaml_text, default_namespace, timeout_s, apply=True)

    def _run(self, request_id: str, yaml_text: str, namespace: str, timeout_s: float, *,
             apply: bool) -> ManifestBatchResult:
        tool = "k8s_apply" if apply else "k8s_dry_run"
        if not self._settings.safe_apply:
            self._audit.record(tool=tool, request_id=request_id, accepted=False,
                               code="safe_apply_disabled")
            return ManifestBatchResult(ok=False, dry_run=not apply, error=(
                "safe_apply is disabled: the operator refuses every mutation, dry-run included"))
        deadline = self._clock() + min(max(timeout_s, 0.1), self._settings.max_timeout_s)
        try:
            documents = [doc for doc in yaml.load_all(yaml_text, Loader=_Loader)
                         if doc is not None]
        except yaml.YAMLError as exc:
            self._audit.record(tool=tool, request_id=request_id, accepted=False, code="bad_yaml")
            return ManifestBatchResult(ok=False, dry_run=not apply,
                                       error=f"the YAML does not parse: {exc}"[:1000])
        documents = _expand_lists(documents)
        if not documents:
            return ManifestBatchResult(ok=False, dry_run=not apply, error="no documents")
        outcomes: list[ManifestOutcome] = []
        targets: list[_Target] = []
        for index, document in enumerate(documents):
            target = self._target(index, document, namespace, deadline)
            if isinstance(target, ManifestOutcome):
                outcomes.append(target)
                self._audit_outcome(tool, request_id, target, document)
            else:
                targets.append(target)
        checked = [self._send(target, request_id, "k8s_dry_run", deadline, dry_run=True)
                   for target in targets]
        all_ok = not outcomes and all(o.ok for o in checked)
        if apply and all_ok:
            checked = [self._send(target, request_id, tool, deadline, dry_run=False)
                       for target in targets]
        elif apply:
            checked = [dataclasses.replace(o, ok=False, message=o.message or
                                           "not applied: another document failed the dry-run")
                       for o in checked]
        outcomes = sorted(outcomes + checked, key=lambda o: o.index)
        ok = all(o.ok for o in outcomes)
        return ManifestBatchResult(ok=ok, dry_run=not apply, outcomes=tuple(outcomes),
                                   error="" if ok else "at least one document failed")

    def _target(self, index: int, document: Any, default_namespace: str,
                deadline: float) -> _Target | ManifestOutcome:
        if not isinstance(document, dict):
            return ManifestOutcome(index=index, message="the document is not a mapping")
        api_version, kind = document.get("apiVersion"), document.get("kind")
        metadata = document.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        name = metadata.get("name")
        if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)
                and api_version and kind and name):
            return ManifestOutcome(index=index, message="apiVersion, kind and metadata.name are "
                                                        "required")
        namespace = str(metadata.get("namespace") or default_namespace)
        base = ManifestOutcome(index=index, kind=kind, namespace=namespace, name=name)
        if kind in self._settings.apply_denied_kinds:
            return dataclasses.replace(base, status_code=0, message=(
                f"{kind} objects are never applied by the operator"))
        if "/" in name or name in (".", "..") or "/" in namespace or ".." in namespace:
            return dataclasses.replace(base, message="invalid name or namespace")
        resolved = self._resolve(api_version, kind, deadline)
        if isinstance(resolved, str):
            return dataclasses.replace(base, message=resolved)
        plural, namespaced = resolved
        group_path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced and not namespace:
            return dataclasses.replace(base, message="a namespace is required for " + kind)
        scope = f"/namespaces/{namespace}" if namespaced else ""
        if not namespaced:
            document = {**document, "metadata": {k: v for k, v in metadata.items()
                                                 if k != "namespace"}}
            base = dataclasses.replace(base, namespace="")
        elif not metadata.get("namespace"):
            document = {**document, "metadata": {**metadata, "namespace": namespace}}
        path = f"{group_path}{scope}/{plural}/{urllib.parse.quote(name, safe='')}"
        return _Target(index, document, kind, base.namespace, name, path)

    def _resolve(self, api_version: str, kind: str, deadline: float) -> tuple[str, bool] | str:
        group_path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if api_version.count("/") > 1 or ".." in api_version or "?" in api_version:
            return f"invalid apiVersion {api_version!r}"
        if group_path not in self._discovery:
            self._discovery[group_path] = self._discover(group_path, deadline)
        resources = self._discovery[group_path]
        if resources is None:
            return f"the API server does not serve {api_version}"
        found = resources.get(kind)
        return found if found else f"the API server has no kind {kind} in {api_version}"

    def _discover(self, group_path: str, deadline: float) -> dict[str, tuple[str, bool]] | None:
        try:
            response = self._transport.request("GET", group_path, timeout_s=self._left(deadline),
                                               max_bytes=self._settings.api_fetch_cap_bytes)
            listing = json.loads(response.body) if response.status == 200 else None
        except (KubeTransportFailureError, ValueError):
            return None
        if not isinstance(listing, dict):
            return None
        return {r["kind"]: (r["name"], bool(r.get("namespaced")))
                for r in listing.get("resources", [])
                if isinstance(r, dict) and "/" not in str(r.get("name", "/"))
                and isinstance(r.get("kind"), str)}

    def _send(self, target: _Target, request_id: str, tool: str, deadline: float, *,
              dry_run: bool) -> ManifestOutcome:
        base = ManifestOutcome(index=target.index, kind=target.kind,
                               namespace=target.namespace, name=target.name)
        if self._clock() >= deadline:
            outcome = dataclasses.replace(base, message="the request's deadline passed")
            self._audit_outcome(tool, request_id, outcome, target.document)
            return outcome
        query = {"fieldManager": self._settings.field_manager}
        if dry_run:
            query["dryRun"] = "All"
        path = target.path + "?" + urllib.parse.urlencode(query)
        try:
            response = self._transport.request(
                "PATCH", path, body=json.dumps(target.document).encode("utf-8"),
                content_type=_APPLY_TYPE, timeout_s=self._left(deadline),
                max_bytes=self._settings.api_fetch_cap_bytes)
        except KubeTransportFailureError as exc:
            outcome = dataclasses.replace(base, message=f"no response from the API server: {exc}")
        else:
            ok = 200 <= response.status < 300
            outcome = dataclasses.replace(base, ok=ok, status_code=response.status, message="" if
                                          ok else status_message(response.body) or
                                          f"HTTP {response.status}")
        self._audit_outcome(tool, request_id, outcome, target.document)
        return outcome

    def _left(self, deadline: float) -> float:
        return max(deadline - self._clock(), 0.1)

    def _audit_outcome(self, tool: str, request_id: str, outcome: ManifestOutcome,
                       document: Any) -> None:
        digest = hashlib.sha256(json.dumps(document, sort_keys=True, default=str)
                                .encode("utf-8")).hexdigest()
        self._audit.record(tool=tool, request_id=request_id, accepted=outcome.ok,
                           code="ok" if outcome.ok else f"http_{outcome.status_code}",
                           detail={"index": outcome.index, "kind": outcome.kind,
                                   "namespace": outcome.namespace, "name": outcome.name,
                                   "status_code": outcome.status_code,
                                   "message": outcome.message, "sha256": digest})


def _expand_lists(documents: list[Any]) -> list[Any]:
    expanded: list[Any] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List" and \
                isinstance(document.get("items"), list):
            expanded.extend(document["items"])
        else:
            expanded.append(document)
    return expanded
