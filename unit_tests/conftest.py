"""Fixtures shared by every unit test package."""

import pytest

from actors.runtime.thespian_system import OperatorSystem


@pytest.fixture
def system():
    """An OperatorSystem the test starts (usually on simpleSystemBase); always shut down."""
    started = OperatorSystem()
    yield started
    started.shutdown(timeout_s=5.0, drain_s=0.5)
