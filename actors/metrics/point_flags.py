"""Per-point flags of the ring store, kept only for series that ever had one.

Owns ``PointFlags``: ``FLAG_RESET`` / ``FLAG_NO_RECORDED_VALUE`` bits by (series slot, ring
position). Almost every point has no flag, so instead of a uint8 [max_series, ring] array
(6 MB at 100k x 60) a series gets a row of a pool (grown by doubling, rows reused) the first
time one of its points carries a flag; every other series reads as zeros. Rows are released
with their series. Pure numpy bookkeeping: it never raises on data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PointFlags"]


class PointFlags:
    """uint8 flags per (slot, ring position), pooled rows for flagged series only."""

    def __init__(self, ring_size: int) -> None:
        self.ring_size = ring_size
        self.rows = np.zeros((0, ring_size), dtype=np.uint8)
        self.row_of = np.full(0, -1, dtype=np.int32)     # slot → pool row (-1: all zero)
        self.free: list[int] = []
        self.used = 0

    def _rows_of(self, slots: np.ndarray) -> np.ndarray:
        rows = np.full(len(slots), -1, dtype=np.int32)
        known = slots < len(self.row_of)
        rows[known] = self.row_of[slots[known]]
        return rows

    def _allocate(self, slot: int) -> None:
        if slot >= len(self.row_of):
            grown = np.full(max(2 * len(self.row_of), slot + 1, 64), -1, dtype=np.int32)
            grown[:len(self.row_of)] = self.row_of
            self.row_of = grown
        if self.free:
            row = self.free.pop()
        else:
            row, self.used = self.used, self.used + 1
            if row >= len(self.rows):
                grown_rows = np.zeros((max(16, 2 * len(self.rows)), self.ring_size), np.uint8)
                grown_rows[:len(self.rows)] = self.rows
                self.rows = grown_rows
        self.rows[row] = 0
        self.row_of[slot] = row

    def write(self, slots: np.ndarray, positions: np.ndarray, flags: np.ndarray) -> None:
        """Set the flags of the points written at (slots, positions) (zeros included)."""
        rows = self._rows_of(slots)
        needed = (flags != 0) & (rows < 0)
        if needed.any():
            for slot in np.unique(slots[needed]).tolist():
                self._allocate(int(slot))
            rows = self._rows_of(slots)
        kept = rows >= 0
        self.rows[rows[kept], positions[kept]] = flags[kept]

    def read(self, slots: np.ndarray, order: np.ndarray) -> np.ndarray:
        """[n, ring] flags of ``slots`` at the ring positions ``order`` ([n, ring])."""
        out = np.zeros(order.shape, dtype=np.uint8)
        rows = self._rows_of(slots)
        kept = np.flatnonzero(rows >= 0)
        if kept.size:
            out[kept] = self.rows[rows[kept][:, None], order[kept]]
        return out

    def release(self, slots: np.ndarray) -> None:
        """Forget the flags of removed series (their rows are reused)."""
        rows = self._rows_of(slots)
        for slot, row in zip(slots.tolist(), rows.tolist(), strict=True):
            if row >= 0:
                self.row_of[slot] = -1
                self.free.append(row)

    def nbytes(self) -> int:
        return int(self.rows.nbytes + self.row_of.nbytes)
