"""The inventory protocol towards the cloud, per uplink session (no I/O).

Holds the newest record of every inventoried object (fed with ``watch_state`` deltas) and an
ordered queue of what the current session still has to send, coalesced by key so the queue
never holds more entries than there are objects:

- ``open_session(id)`` with a new id queues a CREATE for everything known (the snapshot; no API
  re-list); re-opening the same id changes nothing;
- while a session is open, deltas merge into the queue: CREATE+UPDATE → CREATE with the newest
  record, CREATE+DELETE → nothing, DELETE+CREATE → UPDATE, UPDATE+DELETE → DELETE;
- ``drain(n)`` hands out at most ``n`` deltas, records read at drain time (always the newest);
- once every expected kind has finished its initial list and everything queued up to that moment
  was handed out, the next ``drain`` carries the commit: per-kind counts of what this session
  has told the cloud exists (CREATEs minus DELETEs), exactly once per session.
Without a session, deltas only update the store: the next session snapshots anyway.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable

from actors.kube.converters import Record
from actors.kube.watch_state import CREATE, DELETE, UPDATE, Delta

__all__ = ["InventoryDrain", "InventoryTracker"]

Key = tuple[str, str, str]


@dataclasses.dataclass(slots=True)
class InventoryDrain:
    """One piece of output for the current session."""

    session_id: str
    deltas: list[Delta]
    commit: dict[str, int] | None = None   # per-kind counts; set once per session


class InventoryTracker:
    """Newest records plus the coalesced send queue of the current uplink session."""

    def __init__(self, expected_kinds: Iterable[str]) -> None:
        self.store: dict[Key, Record] = {}
        self.expected_kinds = frozenset(expected_kinds)
        self.synced_kinds: set[str] = set()
        self.session_id = ""
        # key -> (op, seq of first queueing, delete record or None)
        self._queue: OrderedDict[Key, tuple[str, int, Record | None]] = OrderedDict()
        self._seq = 0
        self._commit_marker: int | None = None
        self._committed = True
        self._told: dict[str, int] = {}
        self.counters = {"snapshots": 0, "sent": 0, "coalesced": 0, "commits": 0}

    # -- input -----------------------------------------------------------------------------
    def apply(self, deltas: Iterable[Delta]) -> None:
        store, session_open = self.store, bool(self.session_id)
        for op, _kind, key, record in deltas:
            if op == DELETE:
                if store.pop(key, None) is None:
                    continue
            else:
                store[key] = record
            if session_open:
                self._enqueue(op, key, record if op == DELETE else None)

    def mark_synced(self, kinds: Iterable[str]) -> None:
        """These kinds finished their initial list (re-lists do not un-sync a kind)."""
        self.synced_kinds.update(kinds)
        self._maybe_set_marker()

    def open_session(self, session_id: str) -> bool:
        """Start a snapshot for a new session id; returns False when the id is current."""
        if not session_id or session_id == self.session_id:
            return False
        self.session_id = session_id
        self._queue = OrderedDict()
        self._told = {}
        self._committed = False
        self._commit_marker = None
        self.counters["snapshots"] += 1
        for key in self.store:
            self._enqueue(CREATE, key, None)
        self._maybe_set_marker()
        return True

    def close_session(self) -> None:
        """The uplink session ended: stop queueing (the next session snapshots)."""
        self.session_id = ""
        self._queue = OrderedDict()
        self._commit_marker = None

    # -- output ----------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self._queue) + (0 if self._committed or not self.session_id else 1)

    def drain(self, max_deltas: int) -> InventoryDrain | None:
        if not self.session_id:
            return None
        out: list[Delta] = []
        queue, store, told = self._queue, self.store, self._told
        while queue and len(out) < max_deltas:
            key, (op, _seq, delete_record) = queue.popitem(last=False)
            kind = key[0]
            if delete_record is not None:
                out.append((DELETE, kind, key, delete_record))
                told[kind] = told.get(kind, 0) - 1
            else:
                out.append((op, kind, key, store[key]))
                if op == CREATE:
                    told[kind] = told.get(kind, 0) + 1
        self.counters["sent"] += len(out)
        commit = None
        if not self._committed and self._commit_marker is not None and \
                (not queue or next(iter(queue.values()))[1] > self._commit_marker):
            self._committed = True
            self.counters["commits"] += 1
            commit = {kind: told.get(kind, 0)
                      for kind in sorted(self.expected_kinds | told.keys())}
        if not out and commit is None:
            return None
        return InventoryDrain(self.session_id, out, commit)

    # -- internals -------------------------------------------------------------------------
    def _maybe_set_marker(self) -> None:
        if self.session_id and self._commit_marker is None and \
                self.expected_kinds <= self.synced_kinds:
            self._commit_marker = self._seq

    def _enqueue(self, op: str, key: Key, delete_record: Record | None) -> None:
        entry = self._queue.get(key)
        if entry is None:
            self._seq += 1
            self._queue[key] = (op, self._seq, delete_record)
            return
        self.counters["coalesced"] += 1
        queued, seq = entry[0], entry[1]
        if op == DELETE:
            if queued == CREATE:
                del self._queue[key]          # the cloud never heard of it
            else:
                self._queue[key] = (DELETE, seq, delete_record)
        elif queued == DELETE:
            self._queue[key] = (UPDATE, seq, None)   # cloud has the old one: replace it
        # CREATE/UPDATE after CREATE/UPDATE keeps the queued op; the record is read at drain
