"""multiprocTCPBase: SIGKILLed leaves and mid-tree supervisors are restarted, no orphans."""

import os
import signal

import pytest

from messages.runtime import ComponentState
from system_tests.conftest import alive, wait_until
from unit_tests.runtime import topologies as tp

pytestmark = pytest.mark.system


def running(system, component_id, incarnation):
    """The status tree once ``component_id`` runs its ``incarnation`` (else None)."""
    def check():
        status = system.status(3.0)
        node = tp.find(status, component_id)
        ok = node is not None and node.incarnation == incarnation and \
            node.state is ComponentState.RUNNING
        return status if ok else None
    return wait_until(check, timeout_s=15.0, step_s=0.1)


def test_sigkilled_leaf_and_mid_tree_supervisor_recover_without_orphans(operator_system):
    system = operator_system(tp.pipeline({"rate_per_s": 2000, "batch_records": 50}, {}))
    status = running(system, "sink/a", 1)
    first_sink_pid = tp.find(status, "sink/a").pid

    os.kill(first_sink_pid, signal.SIGKILL)
    status = running(system, "sink/a", 2)
    assert status is not None
    sink = tp.find(status, "sink/a")
    assert sink.restarts == 1
    assert sink.pid not in (0, first_sink_pid)
    assert sink.restart_causes == (("exited without reporting a reason", 1),)

    mid = tp.find(status, "sinks")
    orphan_candidate = sink.pid
    os.kill(mid.pid, signal.SIGKILL)
    # the mid supervisor's child must die with it (PR_SET_PDEATHSIG), not linger as an orphan
    assert wait_until(lambda: not alive(orphan_candidate), timeout_s=5.0)
    status = running(system, "sinks", 2)
    assert status is not None
    assert tp.find(status, "sinks").restarts == 1
    status = running(system, "sink/a", 1)            # rebuilt from the topology by the new mid
    assert status is not None
    assert tp.find(status, "sink/a").pid != orphan_candidate
    # the link was reconnected to the new sink: records flow again
    before = tp.counters(tp.find(status, "sink/a"))["received_records"]
    assert wait_until(lambda: tp.counters(tp.find(system.status(3.0), "sink/a"))[
        "received_records"] > before, timeout_s=10.0)
    assert system.shutdown(timeout_s=10.0) == []
