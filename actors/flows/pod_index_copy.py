"""A consumer's own copy of the pod index, fed by ``pod_index`` records, used for enrichment.

Owns how flows (and access logs) learn pod → workload and pod IP → pod without any API call:
the kube watcher publishes ``pod_index`` records ``{op: UPSERT|DELETE, namespace, pod, uid, ip,
ips, node, workload_kind, workload_name, labels, host_network, phase}``
(``actors.kube.pod_index_feed``) and each consumer applies them to a local ``WorkloadIndex``.
The records carry the workload already resolved, so the copy stores it as the pod's owner and
``workload_of_pod`` answers it as is. Bad records (not a mapping, no namespace/pod, unknown op)
are counted in ``bad_records`` and skipped, never raised. ``enrich_flow`` fills a flow
endpoint that Hubble left without a workload: by (namespace, pod) first, else by pod IP; the
answers are memoized per (endpoint, IP) in a bounded dict (``MEMO_LIMIT`` entries, cleared
when full and whenever records are applied, so an answer never outlives the index state it
came from). ``enrich_flows`` does the same for a whole batch, once per distinct ``FlowShape``
(memoized per shape under the same rules); ``enriched`` counts enriched endpoints per flow
either way. Plain logic: no I/O, no clocks.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from actors.flows.flow_records import DecodedFlows, EndpointInfo, FlowRecord, FlowShape
from actors.kube.watch_state import DELETE, UPDATE
from actors.kube.workload_index import WorkloadIndex
from messages import codec
from messages.records import RecordKind
from messages.runtime import LinkBatch

__all__ = ["MEMO_LIMIT", "PodIndexCopy", "apply_pod_index_batch"]

logger = logging.getLogger(__name__)

MEMO_LIMIT = 16_384

_OPS = {"UPSERT": UPDATE, "DELETE": DELETE}


def _pod_record(record: dict[str, Any]) -> dict[str, Any]:
    kind = str(record.get("workload_kind") or "")
    name = str(record.get("workload_name") or "")
    if kind == "Pod":
        kind, name = "", ""                          # a bare pod: workload_of_pod → ("Pod", pod)
    ips = [ip for ip in record.get("ips") or () if isinstance(ip, str)]
    return {"uid": record.get("uid") or "", "pod_ip": record.get("ip") or "", "pod_ips": ips,
            "node_name": record.get("node") or "", "owner_kind": kind, "owner_name": name,
            "labels": dict(record.get("labels") or {}),
            "host_network": bool(record.get("host_network")),
            "phase": str(record.get("phase") or "")}


class PodIndexCopy:
    """A ``WorkloadIndex`` rebuilt from ``pod_index`` records (``index`` is duck-compatible
    with ``access_logs.workload_mapping.WorkloadIndexPods``)."""

    def __init__(self) -> None:
        self.index = WorkloadIndex()
        self.applied = 0
        self.bad_records = 0
        self.enriched = 0
        self._memo: dict[tuple[EndpointInfo, str], tuple[EndpointInfo, bool]] = {}
        self._shapes: dict[FlowShape, tuple[FlowShape, int]] = {}  # -> (enriched, endpoints)

    def pods(self) -> int:
        return sum(len(pods) for pods in self.index.pods.values())

    def apply(self, records: Iterable[Any]) -> int:
        """Apply records in order; returns how many were applied."""
        deltas = []
        for record in records:
            if not isinstance(record, dict):
                self.bad_records += 1
                continue
            op = _OPS.get(str(record.get("op") or ""))
            namespace, pod = record.get("namespace"), record.get("pod")
            if op is None or not isinstance(namespace, str) or not isinstance(pod, str) \
                    or not namespace or not pod:
                self.bad_records += 1
                continue
            body = {} if op == DELETE else _pod_record(record)
            deltas.append((op, "Pod", ("", namespace, pod), body))
        self.index.apply(deltas)
        self._memo.clear()
        self._shapes.clear()
        self.applied += len(deltas)
        return len(deltas)

    def _endpoint(self, endpoint: EndpointInfo, ip: str) -> EndpointInfo:
        if endpoint.workload_name:
            return endpoint
        memo_key = (endpoint, ip)
        found = self._memo.get(memo_key)
        if found is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            resolved = self._resolve(endpoint, ip)
            found = self._memo[memo_key] = (resolved, resolved is not endpoint)
        if not found[1]:
            return endpoint
        self.enriched += 1
        return found[0]

    def _resolve(self, endpoint: EndpointInfo, ip: str) -> EndpointInfo:
        namespace, pod = endpoint.namespace, endpoint.pod
        if not (namespace and pod and self.index.pod(namespace, pod) is not None):
            found = self.index.pod_by_ip(ip) if ip else None
            if found is None:
                return endpoint
            namespace, pod = found
        workload = self.index.workload_of_pod(namespace, pod)
        if workload is None:
            return endpoint
        return endpoint._replace(namespace=namespace, pod=pod, workload_kind=workload[0],
                                 workload_name=workload[1])

    def enrich_flow(self, record: FlowRecord) -> FlowRecord:
        """The flow with both endpoints' workloads filled where Hubble had none."""
        source, destination = record.source, record.destination
        if source.workload_name and destination.workload_name:
            return record
        if not self.index.pods:
            return record
        new_source = self._endpoint(source, record.source_ip)
        new_destination = self._endpoint(destination, record.destination_ip)
        if new_source is source and new_destination is destination:
            return record
        return record._replace(source=new_source, destination=new_destination)

    def enrich_flows(self, flows: Sequence[FlowRecord]) -> Sequence[FlowRecord]:
        """``enrich_flow`` of every flow in a batch, worked out once per distinct shape; the
        batch itself when nothing changes."""
        if not self.index.pods or not flows:
            return flows
        batch = flows if isinstance(flows, DecodedFlows) else DecodedFlows.of(flows)
        memo = self._shapes
        shapes = batch.shapes
        distinct = set(shapes)
        if len(memo) + len(distinct) > MEMO_LIMIT:
            memo.clear()
        for shape in distinct.difference(memo):
            memo[shape] = self._enrich_shape(shape)
        changed = {shape: memo[shape] for shape in distinct if memo[shape][1]}
        if not changed:
            return flows
        per_shape = collections.Counter(shapes)
        self.enriched += sum(per_shape[shape] * endpoints
                             for shape, (_, endpoints) in changed.items())
        target = {shape: new for shape, (new, _) in changed.items()}
        return DecodedFlows([target.get(shape, shape) for shape in shapes], batch.times)

    def _enrich_shape(self, shape: FlowShape) -> tuple[FlowShape, int]:
        """The shape with its endpoints enriched and how many were (without counting them)."""
        record = shape.record
        before = self.enriched
        enriched = self.enrich_flow(record)
        endpoints, self.enriched = self.enriched - before, before
        if enriched is record:
            return shape, 0
        return FlowShape(enriched, shape.unknown_enums), endpoints


def apply_pod_index_batch(pods: PodIndexCopy, batch: LinkBatch, totals: dict[str, float],
                          owner: object) -> None:
    """An enricher's incoming link batch: ``pod_index`` records applied to ``pods`` (counted in
    ``pod_index_records_total``); any other kind, or a payload that does not decode, is counted
    in ``unknown_records_total`` and logged, never raised."""
    if batch.record_kind != RecordKind.POD_INDEX.value:
        totals["unknown_records_total"] += batch.count
        logger.warning("%s: ignored %d %r records", owner, batch.count, batch.record_kind)
        return
    try:
        records = codec.unpack_records(batch.payload)
    except codec.CodecError as error:
        totals["unknown_records_total"] += batch.count
        logger.warning("%s: undecodable pod_index batch: %s", owner, error)
        return
    totals["pod_index_records_total"] += pods.apply(records)
