"""multiprocTCPBase: shutdown leaves no process, even with a blocked actor or a killed mid-tree
supervisor; SIGTERM of the whole actor process group ends every process."""

import os
import signal

import pytest

from messages.runtime import ComponentState
from system_tests.conftest import alive, group_pids, wait_until
from unit_tests.runtime import topologies as tp

pytestmark = pytest.mark.system


def test_shutdown_with_an_actor_blocked_in_its_handler(operator_system, processes):
    topo = tp.pipeline({"rate_per_s": 1000, "batch_records": 10},
                       {"block_handler_s": 60.0})          # stuck far longer than the test
    system = operator_system(topo)
    processes.add_group(system.pgid)
    pids = system.pids()
    assert len(pids) >= 6                                 # admin, logger, 2 sups, 2 leaves
    # the stuck sink cannot answer a status probe: the tree still answers, marking it
    status = wait_until(lambda: (s := system.status(2.0)) is not None and tp.find(
        s, "sink/a").state is ComponentState.UNRESPONSIVE and s, timeout_s=10.0)
    assert status
    assert tp.find(status, "source/a").state is ComponentState.RUNNING
    left = system.shutdown(timeout_s=6.0, drain_s=0.5, grace_s=1.0)
    assert left == []
    assert not [pid for pid in pids if alive(pid)]


def test_shutdown_after_a_mid_tree_supervisor_was_sigkilled(operator_system):
    system = operator_system(tp.pipeline({"rate_per_s": 1000}, {}))
    status = system.status(3.0)
    pids = system.pids()
    os.kill(tp.find(status, "sinks").pid, signal.SIGKILL)
    assert system.shutdown(timeout_s=8.0, drain_s=0.5, grace_s=1.0) == []
    assert not [pid for pid in pids if alive(pid)]


def test_sigterm_to_the_actor_process_group_ends_every_process(operator_system):
    system = operator_system(tp.pipeline({"rate_per_s": 1000}, {}))
    pgid = system.pgid
    assert pgid != os.getpgid(0)
    os.killpg(pgid, signal.SIGTERM)
    assert wait_until(lambda: not group_pids(pgid), timeout_s=10.0)
