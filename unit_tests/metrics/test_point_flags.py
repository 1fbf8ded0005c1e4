"""PointFlags: flags only cost memory for flagged series, read back exactly, rows are reused."""

import numpy as np

from actors.metrics.point_flags import PointFlags
from actors.metrics.series import FLAG_RESET


def test_unflagged_series_take_no_row_and_read_as_zeros():
    flags = PointFlags(ring_size=4)
    flags.write(np.array([0, 1, 500]), np.array([0, 1, 2]), np.zeros(3, np.uint8))
    assert flags.used == 0
    order = np.tile(np.arange(4), (2, 1))
    assert flags.read(np.array([1, 900]), order).tolist() == [[0] * 4, [0] * 4]


def test_flags_read_back_in_ring_order_and_rows_are_reused_after_release():
    flags = PointFlags(ring_size=4)
    flags.write(np.array([7, 7, 3]), np.array([1, 2, 0]),
                np.array([FLAG_RESET, 0, 0], np.uint8))
    assert flags.used == 1
    order = np.array([[2, 3, 0, 1], [0, 1, 2, 3]])
    assert flags.read(np.array([7, 3]), order).tolist() == [[0, 0, 0, FLAG_RESET], [0] * 4]
    flags.write(np.array([7]), np.array([1]), np.array([0], np.uint8))   # overwritten point
    assert flags.read(np.array([7]), order[:1]).tolist() == [[0, 0, 0, 0]]
    flags.release(np.array([7, 3]))
    flags.write(np.array([2]), np.array([3]), np.array([FLAG_RESET], np.uint8))
    assert flags.used == 1                         # the released row was reused, and cleared
    assert flags.read(np.array([2, 7]), order[1:].repeat(2, 0)).tolist() == [
        [0, 0, 0, FLAG_RESET], [0] * 4]
