"""The operator topology for a demo or end-to-end run: the chart's shape, the peers' addresses.

Same components, supervisors and links as the Helm chart renders with flows, Istio and OTel on
(``helm/kestrel-operator/templates/_topology.tpl``), but pointed at the simulated peers: the
API server URL with its service-account token and CA, the relay in plaintext, the cloud's
addresses and PKI, loopback ports for the receivers, and windows short enough to watch.
"""

from __future__ import annotations

import pathlib
from typing import Any

import yaml

from sim.demo.peers import DemoPeers

__all__ = ["demo_topology"]


def _api(peers: DemoPeers) -> dict[str, Any]:
    if peers.kube is None:
        raise RuntimeError("start the peers before rendering the topology")
    return {"api_url": peers.kube.url, "token_file": str(peers.kube_files / "token"),
            "ca_file": str(peers.kube_files / "ca.crt")}


def demo_topology(peers: DemoPeers, workdir: pathlib.Path, *, flush_s: float = 2.0) -> str:
    """YAML text for ``kestrel-operator run --topology``."""
    if peers.cloud is None:
        raise RuntimeError("start the peers before rendering the topology")
    cloud = peers.cloud.uplink_settings()
    api = _api(peers)
    actors: dict[str, Any] = {
        "supervisor/root": {"strategy": "one_for_one", "max_restarts": 10, "within": "60s",
                            "children": ["supervisor/uplink", "command_runner/main",
                                         "metrics_ring/main",
                                         "hubble_flows/shard-0", "envoy_als/main",
                                         "supervisor/kube"]},
        "supervisor/uplink": {"children": ["cloud_uplink/main"]},
        "cloud_uplink/main": {**{k: cloud[k] for k in (
            "cluster_id", "server_address", "server_name", "token_url", "client_id_file",
            "client_secret_file", "cert_file", "key_file", "ca_file")},
            "spool_dir": str(workdir / "spool"), "backoff_max": "2s"},
        "command_runner/main": {**api, "audit_path": str(workdir / "command-audit.log"),
                                "hubble_relay_address": f"127.0.0.1:{peers.relay_port}",
                                "hubble_tls_enabled": False},
        "metrics_ring/main": {"retention": "30m", "max_series": 100000, "ring_size": 60,
                              "receiver": {"enabled": True, "host": "127.0.0.1",
                                           "port": peers.otlp_port}},
        "hubble_flows/shard-0": {**api, "relay_address": f"127.0.0.1:{peers.relay_port}",
                                 "tls_enabled": False, "shard_index": 0, "shard_count": 1,
                                 "window_s": flush_s},
        "envoy_als/main": {"host": "127.0.0.1", "port": peers.als_port, "window_s": flush_s},
        "supervisor/kube": {"children": ["pod_logs/main", "kube_watcher/main"]},
        "kube_watcher/main": {**api, "not_ready_threshold": "30s"},
        "pod_logs/main": {**api},
    }
    links = [
        ("kube_watcher/main", "cloud_uplink/main", 8, "block", False),
        ("pod_logs/main", "cloud_uplink/main", 4, "block", False),
        ("kube_watcher/main", "pod_logs/main", 4, "block", False),
        ("cloud_uplink/main", "command_runner/main", 4, "block", True),
        ("command_runner/main", "cloud_uplink/main", 4, "block", False),
        ("cloud_uplink/main", "pod_logs/main", 4, "block", True),
        ("cloud_uplink/main", "kube_watcher/main", 2, "block", True),
        ("cloud_uplink/main", "metrics_ring/main", 4, "block", True),
        ("metrics_ring/main", "cloud_uplink/main", 4, "block", False),
        ("kube_watcher/main", "metrics_ring/main", 4, "block", False),
        ("hubble_flows/shard-0", "cloud_uplink/main", 8, "drop_oldest", False),
        ("kube_watcher/main", "hubble_flows/shard-0", 4, "block", False),
        ("envoy_als/main", "cloud_uplink/main", 8, "drop_oldest", False),
        ("kube_watcher/main", "envoy_als/main", 4, "block", False),
    ]
    document = {
        "operator": {"cluster_name": "demo",
                     "status": {"host": "127.0.0.1", "port": peers.status_port},
                     "logging": {"format": "text", "level": "WARNING"},
                     "drain_timeout": "5s", "shutdown_timeout": "20s"},
        "actors": actors,
        "links": [{"from": a, "to": b, "window": w, "overflow": o, "request": r}
                  for a, b, w, o, r in links],
    }
    return yaml.safe_dump(document, sort_keys=False)
