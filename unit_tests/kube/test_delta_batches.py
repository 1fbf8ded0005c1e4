"""Deltas, inventory output and signals survive the message payload round trip."""

import pickle

import pytest

from actors.kube import delta_batches as b
from actors.kube.incident_monitors import IncidentMonitors
from actors.kube.inventory import InventoryTracker
from actors.kube.settings import KubeSettings
from actors.kube.watch_state import CREATE
from messages.codec import CodecError, pack_records
from unit_tests.kube import k8s_objects as k


def test_deltas_round_trip_and_feed_the_inventory():
    from actors.kube.converters import convert_pod
    record = convert_pod(k.pod("web-1", "shop", labels={"app": "web"}))
    deltas = [(CREATE, "Pod", ("Pod", "shop", "web-1"), record)]
    message = b.deltas_message("pods", deltas)
    assert pickle.loads(pickle.dumps(message)) == message
    assert str(message) == "KubeDeltasObserved(pods,n=1)"
    (op, kind, key, rec), = b.deltas_of(message.payload)
    assert (op, kind, key) == (CREATE, "Pod", ("Pod", "shop", "web-1"))
    assert rec["labels"] == {"app": "web"}
    inventory = InventoryTracker(["Pod"])
    inventory.apply(b.deltas_of(message.payload))
    inventory.mark_synced(["Pod"])
    inventory.open_session("s")
    piece = inventory.drain(10)
    assert piece is not None
    batch, commit = b.inventory_messages(piece, seq=1)
    assert batch is not None
    assert commit is not None
    assert batch.count == 1
    assert commit.counts == (("Pod", 1),)


def test_malformed_payload_is_a_codec_error():
    with pytest.raises(CodecError):
        b.deltas_of(pack_records([("CREATE", "Pod")]))
    with pytest.raises(CodecError):
        b.deltas_of(b"\xc1")


def test_signals_round_trip():
    monitors = IncidentMonitors(KubeSettings(), lambda: 1.0)
    signals = monitors.observe("nodes", "ADDED", k.node("n1", ready=False))
    message = b.signals_message(signals)
    assert message.count == 1
    assert b.signals_of(message)[0]["signal"] == "NodeNotReady"


def test_chunks_bound_each_message():
    assert [len(c) for c in b.chunks(list(range(7)), 3)] == [3, 3, 1]
