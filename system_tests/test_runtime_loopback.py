"""No listening socket of the running actor system is bound off loopback (/proc/net/tcp*)."""

import os
import socket

import pytest

from actors.runtime.thespian_hardening import VERIFIED_THESPIAN_VERSIONS
from actors.runtime.thespian_system import OperatorSystem, OperatorSystemError
from system_tests.conftest import listening_sockets
from unit_tests.runtime import topologies as tp

pytestmark = pytest.mark.system


def test_every_actor_admin_and_logger_socket_listens_on_loopback_only(operator_system):
    system = operator_system(tp.pipeline({"rate_per_s": 500}, {}))
    assert system.status(3.0) is not None
    pids = system.pids()
    assert len(pids) >= 6
    sockets = listening_sockets([*pids, os.getpid()])
    owners = {pid for pid, _, _ in sockets}
    assert owners >= set(pids) - {0}                     # every actor process listens
    assert any(port == system.admin_port for _, _, port in sockets)
    off_loopback = [s for s in sockets if s[1] not in ("127.0.0.1", "::1")]
    assert off_loopback == [], f"non-loopback listeners: {off_loopback}"
    assert VERIFIED_THESPIAN_VERSIONS == ("4.0.1",)


def test_a_busy_admin_port_is_refused_instead_of_joined():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        topo = tp.pipeline({}, {}, admin_port=squatter.getsockname()[1])
        with pytest.raises(OperatorSystemError, match="already in use"):
            OperatorSystem().start(topo)
