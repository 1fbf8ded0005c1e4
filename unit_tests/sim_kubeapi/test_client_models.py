"""Every object the generator and churn produce must deserialize into the official client's
(pydantic, strict) models, as objects from a real cluster do."""

import pytest
from kubernetes import client

from sim.kubeapi import Churn, conversion, generate_cluster, resources
from sim.kubeapi.store import ObjectStore
from unit_tests.sim_kubeapi.helpers import FixedClock

MODELS = {
    "namespaces": client.V1Namespace, "pods": client.V1Pod, "nodes": client.V1Node,
    "services": client.V1Service, "endpoints": client.V1Endpoints,
    "configmaps": client.V1ConfigMap, "secrets": client.V1Secret,
    "events": client.CoreV1Event,
    "deployments.apps": client.V1Deployment, "replicasets.apps": client.V1ReplicaSet,
    "daemonsets.apps": client.V1DaemonSet, "statefulsets.apps": client.V1StatefulSet,
    "jobs.batch": client.V1Job, "cronjobs.batch": client.V1CronJob,
    "leases.coordination.k8s.io": client.V1Lease,
    "networkpolicies.networking.k8s.io": client.V1NetworkPolicy,
}


@pytest.fixture(scope="module")
def truth():
    clock = FixedClock()
    store = ObjectStore(clock=clock)
    generate_cluster("small", seed=2, now=clock.now).load_into(store)
    Churn(store, seed=2).run_steps(40)
    return store.ground_truth()


@pytest.mark.parametrize("key", sorted(MODELS))
def test_objects_deserialize_into_client_models(truth, key):
    assert truth[key], f"the generator produced no {key}"
    for obj in truth[key]:
        model = MODELS[key].from_dict(obj)  # type: ignore[attr-defined]
        assert model.metadata.name == obj["metadata"]["name"]


def test_core_events_are_served_as_events_k8s_io_v1_events(truth):
    resource = resources.by_key("events.events.k8s.io")
    for obj in truth["events"]:
        view = conversion.to_view(resource, obj)
        model = client.EventsV1Event.from_dict(view)
        assert model is not None
        assert model.regarding is not None
        assert model.regarding.name == obj["involvedObject"]["name"]
        assert model.note == obj["message"]
        assert conversion.to_storage(resource, view) == obj
