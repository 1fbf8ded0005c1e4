"""`make demo` keeps working: the synthetic demo runs, crashes an actor, recovers, exits clean."""

import io

import pytest

from actors.runtime.demo import run_demo

pytestmark = pytest.mark.system


def test_demo_recovers_from_the_injected_crash_and_balances_every_link():
    out = io.StringIO()
    assert run_demo(duration_s=12, out=out) == 0, out.getvalue()
    text = out.getvalue()
    assert "--- injecting a crash: SIGKILL synthetic_aggregator/demo" in text
    assert "crash injected: yes; restarted and running: yes; every link balanced: yes" in text
    assert "processes left: 0" in text
