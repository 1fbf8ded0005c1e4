"""A faithful simulated Kubernetes API server (``sim.kubeapi``), checked with kubectl.

Usage::

    from sim.kubeapi import KubeApiServer, generate_cluster, Churn
    with KubeApiServer(cluster=generate_cluster("medium", seed=1), tls=True,
                       bookmark_interval_s=1.0, history_limit=10_000) as server:
        kubeconfig = server.write_kubeconfig(tmp / "kubeconfig")      # admin token
        env = server.write_in_cluster_files(tmp / "sa")              # token, ca.crt, namespace
        with Churn(server.store, rate_per_s=5, seed=2):              # background churn
            ...
        server.faults.expire_watches()                                # 410 mid-stream
        truth = server.ground_truth()                                 # {"pods": [...], ...}

What it serves: discovery (``/version``, ``/api``, ``/apis``, group-version resource lists,
a minimal ``/openapi/v3``), list with a global resourceVersion, ``limit``/``continue``,
selectors and Table output, watch (history window, bookmarks, 410, WatchList), pods/log,
create/update/patch/apply/delete with dry-run, status and scale subresources, bearer-token RBAC
(401/403), and in-process deployment/replica-set controllers. Modules: ``store`` (objects,
resourceVersion, history), ``listing``/``watching``/``writing``/``log_following`` (the verbs),
``discovery``/``openapi``, ``rbac``, ``faults``, ``cluster`` (generator), ``churn`` (scenario
driver), ``controllers``/``workloads`` (reactions to writes), ``server`` (lifecycle).
Imports no operator code.
"""

from sim.kubeapi.churn import Churn
from sim.kubeapi.cluster import Cluster, generate_cluster
from sim.kubeapi.controllers import Controllers
from sim.kubeapi.faults import FaultInjector
from sim.kubeapi.rbac import Identity, Rule, Tokens
from sim.kubeapi.server import KubeApiServer
from sim.kubeapi.status import ApiError
from sim.kubeapi.store import ObjectStore

__all__ = ["ApiError", "Churn", "Cluster", "Controllers", "FaultInjector", "Identity",
           "KubeApiServer", "ObjectStore", "Rule", "Tokens", "generate_cluster"]
