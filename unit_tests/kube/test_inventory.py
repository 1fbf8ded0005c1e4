"""Inventory protocol: snapshot then deltas, nothing twice, per-kind commit, new session."""

from actors.kube.inventory import InventoryTracker
from actors.kube.watch_state import CREATE, DELETE, UPDATE


def rec(kind, name, version=1, ns="default"):
    return {"kind": kind, "namespace": ns if kind != "Node" else "", "name": name,
            "uid": f"u-{name}", "v": version}


def delta(op, kind, name, version=1):
    r = rec(kind, name, version)
    return (op, kind, (kind, r["namespace"], name), r)


def must(piece):
    assert piece is not None
    return piece


def drain_all(inv, chunk=3, limit=100):
    out, commits = [], []
    for _ in range(limit):
        piece = inv.drain(chunk)
        if piece is None:
            break
        out.extend(piece.deltas)
        if piece.commit is not None:
            commits.append((len(out), piece.commit))
    return out, commits


def test_snapshot_then_deltas_with_commit_counts_per_kind():
    inv = InventoryTracker(["Pod", "Node"])
    inv.apply([delta(CREATE, "Pod", f"p{i}") for i in range(5)] +
              [delta(CREATE, "Node", "n1")])
    inv.mark_synced(["Pod", "Node"])
    assert inv.drain(10) is None            # no session yet: nothing to send
    assert inv.open_session("s1")
    sent, commits = drain_all(inv)
    assert [op for op, *_ in sent] == [CREATE] * 6
    assert len({key for _, _, key, _ in sent}) == 6
    assert commits == [(6, {"Node": 1, "Pod": 5})]
    inv.apply([delta(UPDATE, "Pod", "p0", 2), delta(DELETE, "Pod", "p1"),
               delta(CREATE, "Pod", "p9")])
    sent, commits = drain_all(inv)
    assert [(op, key[2]) for op, _, key, _ in sent] == [(UPDATE, "p0"), (DELETE, "p1"),
                                                        (CREATE, "p9")]
    assert sent[0][3]["v"] == 2
    assert commits == []                    # one commit per session


def test_changes_during_snapshot_never_send_an_object_twice():
    inv = InventoryTracker(["Pod"])
    inv.apply([delta(CREATE, "Pod", f"p{i}") for i in range(6)])
    inv.mark_synced(["Pod"])
    inv.open_session("s1")
    first = must(inv.drain(2)).deltas             # p0, p1 sent
    inv.apply([delta(UPDATE, "Pod", "p4", 2),   # queued snapshot entry: stays one CREATE
               delta(DELETE, "Pod", "p5"),      # never sent: vanishes silently
               delta(UPDATE, "Pod", "p0", 2),   # already sent: an UPDATE follows
               delta(CREATE, "Pod", "p7")])
    rest, commits = drain_all(inv, chunk=10)
    sent = first + rest
    creates = [key[2] for op, _, key, _ in sent if op == CREATE]
    assert sorted(creates) == ["p0", "p1", "p2", "p3", "p4", "p7"]
    assert len(creates) == len(set(creates))
    p4 = next(r for op, _, key, r in sent if key[2] == "p4")
    assert p4["v"] == 2                      # newest record read at drain time
    assert (UPDATE, "p0") in [(op, key[2]) for op, _, key, _ in sent]
    assert "p5" not in [key[2] for _, _, key, _ in sent]
    assert commits[0][1] == {"Pod": 6}


def test_commit_waits_for_every_expected_kind_to_sync():
    inv = InventoryTracker(["Pod", "Namespace"])
    inv.open_session("s1")
    inv.apply([delta(CREATE, "Pod", "p0")])
    inv.mark_synced(["Pod"])
    sent, commits = drain_all(inv)
    assert len(sent) == 1
    assert commits == []
    inv.apply([delta(CREATE, "Namespace", "default")])
    inv.mark_synced(["Namespace"])
    inv.apply([delta(CREATE, "Pod", "late")])   # after the marker: not needed for commit
    piece = must(inv.drain(1))
    assert piece.commit == {"Namespace": 1, "Pod": 1}
    assert must(inv.drain(5)).deltas[0][2][2] == "late"


def test_new_session_snapshots_from_memory_and_same_session_is_a_no_op():
    inv = InventoryTracker(["Pod"])
    inv.apply([delta(CREATE, "Pod", f"p{i}") for i in range(4)])
    inv.mark_synced(["Pod"])
    inv.open_session("s1")
    drain_all(inv)
    assert not inv.open_session("s1")
    assert inv.drain(10) is None
    inv.apply([delta(DELETE, "Pod", "p3")])
    inv.close_session()
    inv.apply([delta(CREATE, "Pod", "p8")])     # while disconnected: store only
    assert inv.drain(10) is None
    assert inv.open_session("s2")
    sent, commits = drain_all(inv)
    assert sorted(key[2] for _, _, key, _ in sent) == ["p0", "p1", "p2", "p8"]
    assert {op for op, *_ in sent} == {CREATE}
    assert commits[0][1] == {"Pod": 4}
    assert inv.counters["snapshots"] == 2


def test_delete_then_recreate_after_send_becomes_update():
    inv = InventoryTracker(["Pod"])
    inv.mark_synced(["Pod"])
    inv.open_session("s1")
    inv.apply([delta(CREATE, "Pod", "p")])
    drain_all(inv)
    inv.apply([delta(DELETE, "Pod", "p"), delta(CREATE, "Pod", "p", 3)])
    sent, _ = drain_all(inv)
    assert [(op, r["v"]) for op, _, _, r in sent] == [(UPDATE, 3)]
    assert inv.pending() == 0
