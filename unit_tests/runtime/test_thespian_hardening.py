"""thespian_hardening: the loopback bind patch and its guards; PR_SET_PDEATHSIG; child pids."""

import importlib
import importlib.metadata
import os
import subprocess
import sys
import types

import pytest

from actors.runtime import thespian_hardening as hardening

IPBase = importlib.import_module("thespian.system.transport.IPBase")


@pytest.fixture
def unpatched():
    """Run a test against a fresh, unpatched TCPv4ActorAddress, then restore the prior state."""
    cls = IPBase.TCPv4ActorAddress
    names = ("bindArgs", hardening._PATCH_MARK)
    saved = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
    saved_env = os.environ.pop("THESPIAN_BASE_IPADDR", None)
    for name in saved:
        delattr(cls, name)
    try:
        yield cls
    finally:
        for name in names:
            if name in cls.__dict__:
                delattr(cls, name)
        for name, value in saved.items():
            setattr(cls, name, value)
        os.environ.pop("THESPIAN_BASE_IPADDR", None)
        if saved_env is not None:
            os.environ["THESPIAN_BASE_IPADDR"] = saved_env


def test_patch_binds_wildcard_hosts_to_loopback_and_keeps_explicit_ones(unpatched):
    hardening.bind_actor_sockets_to_loopback()
    assert IPBase.TCPv4ActorAddress("127.0.0.1", 0, external=True).bindArgs[0][0] == "127.0.0.1"
    wildcard = IPBase.TCPv4ActorAddress(None, 0, external=True)
    assert wildcard.bindname[0] == ""                       # what thespian would have bound
    assert wildcard.bindArgs == (("127.0.0.1", wildcard.bindname[1]),)
    hardening.bind_actor_sockets_to_loopback()              # idempotent


def test_unverified_thespian_version_is_refused(unpatched, monkeypatch):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "4.0.2")
    with pytest.raises(hardening.ThespianHardeningError, match=r"thespian 4\.0\.2"):
        hardening.bind_actor_sockets_to_loopback()
    assert "bindArgs" not in unpatched.__dict__


def test_moved_internals_are_refused(unpatched, monkeypatch):
    monkeypatch.setattr(hardening, "_TRANSPORT_BIND_CALL", "self.socket.bind(somewhere_else)")
    with pytest.raises(hardening.ThespianHardeningError, match="bind moved"):
        hardening.bind_actor_sockets_to_loopback()


def test_a_non_loopback_base_address_is_refused(unpatched, monkeypatch):
    monkeypatch.setenv("THESPIAN_BASE_IPADDR", "10.1.2.3")
    with pytest.raises(hardening.ThespianHardeningError, match="loopback-only"):
        hardening.bind_actor_sockets_to_loopback()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_parent_death_signal_is_set_in_the_calling_process():
    code = ("import ctypes, signal; from actors.runtime.thespian_hardening import "
            "set_parent_death_signal as s; assert s(signal.SIGTERM);"
            "libc = ctypes.CDLL(None); v = ctypes.c_int();"
            "libc.prctl(2, ctypes.byref(v), 0, 0, 0); print(v.value)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True)
    assert out.stdout.strip() == "15"                       # PR_GET_PDEATHSIG == SIGTERM


def test_child_process_id_reads_thespian_child_records():
    address = object()
    info = types.SimpleNamespace(childAddr=address, childProc=types.SimpleNamespace(pid=4321))
    actor = types.SimpleNamespace(_myRef=types.SimpleNamespace(_child_procs=[info]))
    assert hardening.child_process_id(actor, address) == 4321
    assert hardening.child_process_id(actor, object()) == 0
    assert hardening.child_process_id(types.SimpleNamespace(), address) == 0


def test_a_failed_start_s_daemonized_listener_is_killed_by_its_port(tmp_path):
    import socket
    import subprocess
    import sys
    import time

    from actors.runtime.thespian_system import free_loopback_port, kill_listeners

    port = free_loopback_port()
    child = subprocess.Popen(   # its own session, like thespian's daemonized admin
        [sys.executable, "-c", "import socket,time; s=socket.socket(); "
         f"s.bind(('127.0.0.1', {port})); s.listen(1); time.sleep(60)"],
        start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        assert kill_listeners(port) == [child.pid]
        assert child.wait(10) == -9
        assert kill_listeners(port) == []
    finally:
        if child.poll() is None:
            child.kill()
