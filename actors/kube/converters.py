"""Convert Kubernetes API objects (parsed list items / watch objects) into compact records.

A record is a plain dict (msgpack-able, see ``messages.codec.pack_records``) holding only the
fields the cloud receives; sequences are tuples (as after a msgpack round trip, and untracked by
the cyclic GC, which matters with 100k records in memory). Every record has ``kind``,
``namespace`` ("" for cluster-scoped), ``name`` and ``uid``; ``watch_state`` adds
``resource_version`` after fingerprinting, so a new resourceVersion with unchanged content is not
a change. A converter returns ``None`` when the
object does not belong to its view (a Normal event, a pod that has an owner for the bare-pod
workload view). Malformed objects raise ``ConversionError``; the caller counts and skips them.

``RESOURCES`` maps each watched API resource to its list paths and the record views derived from
one object (pods feed both the ``Pod`` inventory and the ``BarePod`` workload view).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["RESOURCES", "ConversionError", "Converter", "Record", "ResourceSpec", "object_ref"]

Record = dict[str, Any]
Converter = Callable[[dict[str, Any]], Record | None]


class ConversionError(ValueError):
    """The object lacks the fields every Kubernetes object has (metadata.name)."""


def object_ref(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """(namespace, name, uid, resourceVersion) of an object; raises ``ConversionError``."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise ConversionError("object without metadata.name")
    return (meta.get("namespace") or "", meta["name"], meta.get("uid") or "",
            meta.get("resourceVersion") or "")


def _base(kind: str, meta: dict[str, Any]) -> Record:
    return {"kind": kind, "namespace": meta.get("namespace") or "", "name": meta["name"],
            "uid": meta.get("uid") or "", "created_at": meta.get("creationTimestamp") or "",
            "labels": meta.get("labels") or {}}


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise ConversionError("object without metadata.name")
    return meta


def _controller(meta: dict[str, Any]) -> tuple[str, str]:
    owners = meta.get("ownerReferences") or ()
    for ref in owners:
        if ref.get("controller"):
            return ref.get("kind") or "", ref.get("name") or ""
    if owners:
        return owners[0].get("kind") or "", owners[0].get("name") or ""
    return "", ""


def _pod_spec(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


def convert_namespace(obj: dict[str, Any]) -> Record:
    record = _base("Namespace", _meta(obj))
    record["phase"] = (obj.get("status") or {}).get("phase") or ""
    return record


def _workload(kind: str) -> Converter:
    def convert(obj: dict[str, Any]) -> Record:
        meta = _meta(obj)
        record = _base(kind, meta)
        record["workload_kind"] = kind
        record["owner_kind"], record["owner_name"] = _controller(meta)
        record["service_account"] = _pod_spec(obj, kind).get("serviceAccountName") or "default"
        return record
    return convert


def convert_bare_pod(obj: dict[str, Any]) -> Record | None:
    meta = _meta(obj)
    if meta.get("ownerReferences"):
        return None
    record = _base("BarePod", meta)
    record["workload_kind"] = "Pod"
    record["owner_kind"], record["owner_name"] = "", ""
    record["service_account"] = _pod_spec(obj, "Pod").get("serviceAccountName") or "default"
    return record


def convert_pod(obj: dict[str, Any]) -> Record:
    meta = _meta(obj)
    record = _base("Pod", meta)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ready = False
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
            break
    record["owner_kind"], record["owner_name"] = _controller(meta)
    record["pod_ip"] = status.get("podIP") or ""
    record["pod_ips"] = tuple(entry.get("ip", "") for entry in status.get("podIPs") or ())
    record["host_network"] = bool(spec.get("hostNetwork"))
    record["node_name"] = spec.get("nodeName") or ""
    record["service_account"] = spec.get("serviceAccountName") or "default"
    record["phase"] = status.get("phase") or ""
    record["ready"] = ready
    record["containers"] = tuple(c.get("name") or "" for c in spec.get("containers") or ())
    return record


def convert_service(obj: dict[str, Any]) -> Record:
    meta = _meta(obj)
    record = _base("Service", meta)
    spec = obj.get("spec") or {}
    ports = []
    for port in spec.get("ports") or ():
        target = port.get("targetPort", port.get("port", 0))
        ports.append({"name": port.get("name") or "", "protocol": port.get("protocol") or "TCP",
                      "port": port.get("port") or 0,
                      "target_port": target if isinstance(target, int) else 0,
                      "target_port_name": target if isinstance(target, str) else "",
                      "node_port": port.get("nodePort") or 0})
    record["annotations"] = meta.get("annotations") or {}
    record["selector"] = spec.get("selector") or {}
    record["ports"] = tuple(ports)
    record["service_type"] = spec.get("type") or "ClusterIP"
    record["cluster_ip"] = spec.get("clusterIP") or ""
    record["external_ips"] = tuple(spec.get("externalIPs") or ())
    return record


def convert_node(obj: dict[str, Any]) -> Record:
    meta = _meta(obj)
    record = _base("Node", meta)
    status = obj.get("status") or {}
    internal, external, hostname = [], [], ""
    for addr in status.get("addresses") or ():
        kind, value = addr.get("type"), addr.get("address") or ""
        if kind == "InternalIP":
            internal.append(value)
        elif kind == "ExternalIP":
            external.append(value)
        elif kind == "Hostname":
            hostname = value
    ready = False
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
            break
    labels = record["labels"]
    record["internal_ips"] = tuple(internal)
    record["external_ips"] = tuple(external)
    record["hostname"] = hostname
    record["ready"] = ready
    record["unschedulable"] = bool((obj.get("spec") or {}).get("unschedulable"))
    record["instance_type"] = labels.get("node.kubernetes.io/instance-type") or ""
    record["zone"] = labels.get("topology.kubernetes.io/zone") or ""
    return record


# Items of a built-in type's LIST carry no apiVersion (watch events do): without a default a
# re-list would differ from the watched record and send an UPDATE for nothing.
_POLICY_API_VERSIONS = {"NetworkPolicy": "networking.k8s.io/v1",
                        "CiliumNetworkPolicy": "cilium.io/v2",
                        "CiliumClusterwideNetworkPolicy": "cilium.io/v2",
                        "AuthorizationPolicy": "security.istio.io/v1"}


def _policy(kind: str) -> Converter:
    def convert(obj: dict[str, Any]) -> Record:
        meta = _meta(obj)
        record = _base(kind, meta)
        record["api_version"] = obj.get("apiVersion") or _POLICY_API_VERSIONS[kind]
        record["annotations"] = meta.get("annotations") or {}
        record["spec"] = obj.get("spec") or {}
        if kind.startswith("Cilium"):
            record["specs"] = obj.get("specs") or []
        record["target_workloads"] = []
        return record
    return convert


def convert_warning_event(obj: dict[str, Any]) -> Record | None:
    if obj.get("type") != "Warning":
        return None
    meta = _meta(obj)
    record = _base("Event", meta)
    involved = obj.get("involvedObject") or {}
    source = obj.get("source") or {}
    series = obj.get("series") or {}
    record.pop("labels")
    record["event_type"] = "Warning"
    record["reason"] = obj.get("reason") or ""
    record["message"] = obj.get("message") or ""
    record["involved"] = {"kind": involved.get("kind") or "",
                          "namespace": involved.get("namespace") or "",
                          "name": involved.get("name") or "", "uid": involved.get("uid") or "",
                          "field_path": involved.get("fieldPath") or ""}
    record["source"] = {"component": source.get("component") or obj.get("reportingComponent")
                        or "", "host": source.get("host") or ""}
    record["first_timestamp"] = obj.get("firstTimestamp") or obj.get("eventTime") or ""
    record["last_timestamp"] = (obj.get("lastTimestamp") or series.get("lastObservedTime")
                                or obj.get("eventTime") or "")
    record["count"] = int(obj.get("count") or series.get("count") or 1)
    return record


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One API resource: where to list/watch it and which record views it feeds."""

    resource: str
    paths: tuple[str, ...]          # cluster-wide collection paths, preferred first
    views: tuple[tuple[str, Converter], ...]
    field_selector: str = ""        # server-side filter, e.g. only Warning events


_W = _workload
RESOURCES: dict[str, ResourceSpec] = {spec.resource: spec for spec in (
    ResourceSpec("namespaces", ("/api/v1/namespaces",), (("Namespace", convert_namespace),)),
    ResourceSpec("deployments", ("/apis/apps/v1/deployments",),
                 (("Deployment", _W("Deployment")),)),
    ResourceSpec("statefulsets", ("/apis/apps/v1/statefulsets",),
                 (("StatefulSet", _W("StatefulSet")),)),
    ResourceSpec("daemonsets", ("/apis/apps/v1/daemonsets",), (("DaemonSet", _W("DaemonSet")),)),
    ResourceSpec("replicasets", ("/apis/apps/v1/replicasets",),
                 (("ReplicaSet", _W("ReplicaSet")),)),
    ResourceSpec("jobs", ("/apis/batch/v1/jobs",), (("Job", _W("Job")),)),
    ResourceSpec("cronjobs", ("/apis/batch/v1/cronjobs",), (("CronJob", _W("CronJob")),)),
    ResourceSpec("pods", ("/api/v1/pods",), (("Pod", convert_pod), ("BarePod", convert_bare_pod))),
    ResourceSpec("services", ("/api/v1/services",), (("Service", convert_service),)),
    ResourceSpec("nodes", ("/api/v1/nodes",), (("Node", convert_node),)),
    ResourceSpec("networkpolicies", ("/apis/networking.k8s.io/v1/networkpolicies",),
                 (("NetworkPolicy", _policy("NetworkPolicy")),)),
    ResourceSpec("ciliumnetworkpolicies", ("/apis/cilium.io/v2/ciliumnetworkpolicies",),
                 (("CiliumNetworkPolicy", _policy("CiliumNetworkPolicy")),)),
    ResourceSpec("ciliumclusterwidenetworkpolicies",
                 ("/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies",),
                 (("CiliumClusterwideNetworkPolicy", _policy("CiliumClusterwideNetworkPolicy")),)),
    ResourceSpec("authorizationpolicies",
                 ("/apis/security.istio.io/v1/authorizationpolicies",
                  "/apis/security.istio.io/v1beta1/authorizationpolicies"),
                 (("AuthorizationPolicy", _policy("AuthorizationPolicy")),)),
    ResourceSpec("events", ("/api/v1/events",), (("Event", convert_warning_event),),
                 field_selector="type=Warning"),
)}
