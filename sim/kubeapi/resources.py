"""The resource catalogue the simulated API server serves: group, versions, kind, scope, verbs.

Owns the single table every other module consults (routing, discovery, RBAC, storage keys), so a
kind added here is listed, watched, discovered and authorised consistently. Lookups of unknown
resources return ``None``; callers turn that into a 404 Status.
"""

from __future__ import annotations

import dataclasses

CUSTOM_GROUPS = frozenset({"cilium.io", "security.istio.io"})
READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceType:
    """One served resource (all its versions share one storage bucket, like the real etcd key)."""

    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    has_status: bool = True
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    storage_key: str = ""  # set when another resource's storage holds these objects

    @property
    def key(self) -> str:
        """API identity: ``plural`` for the core group, ``plural.group`` otherwise."""
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    @property
    def storage(self) -> str:
        """The store bucket holding these objects (usually :attr:`key`)."""
        return self.storage_key or self.key

    @property
    def custom(self) -> bool:
        """True for CRD-backed kinds (their list items carry kind/apiVersion, like unstructured)."""
        return self.group in CUSTOM_GROUPS

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def api_version(self, version: str | None = None) -> str:
        chosen = version or self.versions[0]
        return chosen if not self.group else f"{self.group}/{chosen}"


def _core(plural: str, kind: str, namespaced: bool = True, **extra: object) -> ResourceType:
    return ResourceType("", ("v1",), plural, kind, namespaced, **extra)  # type: ignore[arg-type]


CATALOGUE: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short_names=("ns",),
          subresources=("status",)),
    _core("pods", "Pod", short_names=("po",), subresources=("status", "log"),
          categories=("all",)),
    _core("services", "Service", short_names=("svc",), subresources=("status",),
          categories=("all",)),
    _core("nodes", "Node", namespaced=False, short_names=("no",), subresources=("status",)),
    _core("events", "Event", short_names=("ev",), has_status=False),
    _core("secrets", "Secret", has_status=False),
    _core("configmaps", "ConfigMap", short_names=("cm",), has_status=False),
    _core("endpoints", "Endpoints", short_names=("ep",), has_status=False),
    ResourceType("apps", ("v1",), "deployments", "Deployment", True, ("deploy",),
                 subresources=("status", "scale"), categories=("all",)),
    ResourceType("apps", ("v1",), "statefulsets", "StatefulSet", True, ("sts",),
                 subresources=("status", "scale"), categories=("all",)),
    ResourceType("apps", ("v1",), "daemonsets", "DaemonSet", True, ("ds",),
                 subresources=("status",), categories=("all",)),
    ResourceType("apps", ("v1",), "replicasets", "ReplicaSet", True, ("rs",),
                 subresources=("status", "scale"), categories=("all",)),
    ResourceType("batch", ("v1",), "jobs", "Job", True, subresources=("status",),
                 categories=("all",)),
    ResourceType("batch", ("v1",), "cronjobs", "CronJob", True, ("cj",),
                 subresources=("status",), categories=("all",)),
    ResourceType("networking.k8s.io", ("v1",), "networkpolicies", "NetworkPolicy", True,
                 ("netpol",), has_status=False),
    ResourceType("events.k8s.io", ("v1",), "events", "Event", True, has_status=False,
                 storage_key="events"),
    ResourceType("coordination.k8s.io", ("v1",), "leases", "Lease", True, has_status=False),
    ResourceType("cilium.io", ("v2",), "ciliumnetworkpolicies", "CiliumNetworkPolicy", True,
                 ("cnp", "ciliumnp"), subresources=("status",)),
    ResourceType("cilium.io", ("v2",), "ciliumclusterwidenetworkpolicies",
                 "CiliumClusterwideNetworkPolicy", False, ("ccnp",), subresources=("status",)),
    ResourceType("security.istio.io", ("v1", "v1beta1"), "authorizationpolicies",
                 "AuthorizationPolicy", True, ("ap",), subresources=("status",)),
    ResourceType("authorization.k8s.io", ("v1",), "selfsubjectaccessreviews",
                 "SelfSubjectAccessReview", False, has_status=False, verbs=("create",)),
)

_BY_PATH: dict[tuple[str, str, str], ResourceType] = {
    (r.group, v, r.plural): r for r in CATALOGUE for v in r.versions
}
_BY_KEY: dict[str, ResourceType] = {r.key: r for r in CATALOGUE}
STORAGE_KEYS: tuple[str, ...] = tuple(dict.fromkeys(r.storage for r in CATALOGUE))
_BY_KIND: dict[tuple[str, str], ResourceType] = {(r.group, r.kind): r for r in CATALOGUE}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``/apis/{group}/{version}/{plural}`` (core group: ``""``)."""
    return _BY_PATH.get((group, version, plural))


def by_key(key: str) -> ResourceType:
    """The resource for a storage key such as ``pods`` or ``deployments.apps``."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown resource key {key!r}; known: {sorted(_BY_KEY)}") from None


def by_api_version_kind(api_version: str, kind: str) -> ResourceType | None:
    group = api_version.rpartition("/")[0]
    return _BY_KIND.get((group, kind))


def groups() -> dict[str, list[str]]:
    """Non-core group name -> served versions (preferred first), in catalogue order."""
    found: dict[str, list[str]] = {}
    for resource in CATALOGUE:
        if resource.group:
            versions = found.setdefault(resource.group, [])
            versions.extend(v for v in resource.versions if v not in versions)
    return found


def in_group_version(group: str, version: str) -> list[ResourceType]:
    return [r for r in CATALOGUE if r.group == group and version in r.versions]
