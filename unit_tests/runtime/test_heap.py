"""heap: malloc arenas capped and free pages trimmed only after work (never raising)."""

from actors.runtime import heap


def test_trimmer_trims_once_per_tick_only_after_work():
    trimmer = heap.HeapTrimmer()
    assert trimmer.on_tick() is False
    trimmer.note_work()
    trimmer.note_work()
    assert trimmer.on_tick() is True
    assert trimmer.on_tick() is False
    assert trimmer.trims == 1


def test_glibc_knobs_answer_without_raising():
    assert isinstance(heap.limit_arenas(2), bool)
    assert isinstance(heap.trim(), bool)
