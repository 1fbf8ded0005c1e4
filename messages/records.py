"""Record kinds carried on credit links (``LinkBatch.record_kind``) and their payload shapes.

Every payload is ``messages.codec.pack_records(records)``: a msgpack array of plain records
(maps with string keys). The uplink maps kinds to the cloud protocol's record kinds; consumers
refuse a kind they do not know with a counter, never a crash. Shapes (keys) per kind:

- ``inventory``: kube inventory deltas / snapshot pieces ``{op, kind, namespace, name, uid,
  resource_version, record, session}``; ``inventory_commit``: ``{session, counts: {kind: n}}``;
- ``incident``: incident signals from the kube monitors (pod status, node conditions,
  rollouts, Warning events) ``{signal, kind, namespace, name, ...}``;
- ``logs``: pod-log captures, tails and opt-in streams ``{namespace, pod, container, previous,
  lines, errors, truncated, request_id?}``; streamed batches add ``streamed: true``,
  ``first_timestamp``, ``last_timestamp`` (``reason`` "stream");
- ``flows``: aggregated Hubble flow records, one per key and window;
- ``l7``: aggregated Envoy access-log records, one per key and window;
- ``pod_index``: pod → workload/IP facts for enrichment ``{op, namespace, pod, uid, ip, node,
  workload_kind, workload_name, labels}`` (kube watcher → metrics, flows, access logs);
- ``command``: a cloud command routed to its owner over a *request* link ``{request_id,
  deadline_unix, kind, args}``; ``command_result``: the answer ``{request_id, status, error,
  payload, truncated}`` — every command gets exactly one answer, a deadline error included;
- ``session``: the uplink announces a new cloud session ``{session, resume}`` to the kube
  watcher (request link), which answers with a fresh inventory snapshot;
- ``operator_stats``: counters the operator reports about itself;
- ``metric_points``: decoded OTLP requests, OTLP receiver → metrics ring only; the payload is
  NOT ``pack_records`` but ``actors.metrics.point_frames`` frames (numpy column bytes), and the
  count is data points. Lossless on that BLOCK link: without credit the receiver answers the
  Collector UNAVAILABLE (retryable) instead of accepting points it could not forward.
"""

from __future__ import annotations

import enum

__all__ = ["LOSSLESS_KINDS", "RecordKind"]


class RecordKind(enum.Enum):
    """The ``record_kind`` strings of ``LinkBatch``."""

    INVENTORY = "inventory"
    INVENTORY_COMMIT = "inventory_commit"
    INCIDENT = "incident"
    LOGS = "logs"
    FLOWS = "flows"
    L7 = "l7"
    POD_INDEX = "pod_index"
    COMMAND = "command"
    COMMAND_RESULT = "command_result"
    SESSION = "session"
    OPERATOR_STATS = "operator_stats"
    METRIC_POINTS = "metric_points"


# Never dropped anywhere: spooled to disk by the uplink, blocked (not dropped) on full links.
LOSSLESS_KINDS = frozenset({RecordKind.INVENTORY, RecordKind.INVENTORY_COMMIT,
                            RecordKind.INCIDENT, RecordKind.LOGS, RecordKind.COMMAND,
                            RecordKind.COMMAND_RESULT, RecordKind.SESSION})
