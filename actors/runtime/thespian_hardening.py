"""Process-level hardening of thespian 4.0.1: no orphans, no actor socket off loopback.

1. ``set_parent_death_signal()``: ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` (Linux, via ctypes) so an
   actor whose parent process dies gets SIGTERM instead of living on as an orphan that survives
   ``ActorSystem.shutdown()`` (reference/thespian.md §2.3). Every ComponentActor calls it in
   ``__init__``; elsewhere it is a logged no-op.
2. ``bind_actor_sockets_to_loopback()``: thespian's TCP transport binds every actor, the admin
   and the logger to ``''`` (all interfaces) whatever ``THESPIAN_BASE_IPADDR`` says
   (``TCPTransport.__init__`` → ``self.socket.bind(*templateAddr.addressDetails.bindArgs)`` and
   ``IPActorAddress.bindname = ('', port)`` for external addresses), and unpickles whatever
   arrives: remote code execution for anyone who can reach the pod. We replace the
   ``bindArgs`` property of ``TCPv4ActorAddress`` (the class behind every TCP address, routed
   and admin ones included) so a wildcard host binds 127.0.0.1, and pin the advertised address
   to 127.0.0.1 through ``THESPIAN_BASE_IPADDR``. The patch is applied in the main process
   before the admin forks, so forked actors inherit it. It checks the installed version and the
   exact code shape first and raises ``ThespianHardeningError`` if thespian's internals moved.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import importlib.metadata
import inspect
import logging
import os
import signal
import sys
from typing import Any

__all__ = ["LOOPBACK", "ThespianHardeningError", "bind_actor_sockets_to_loopback",
           "child_process_id", "set_parent_death_signal"]

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
VERIFIED_THESPIAN_VERSIONS = ("4.0.1",)
_PR_SET_PDEATHSIG = 1
_WILDCARD_HOSTS = ("", "0.0.0.0")  # what thespian binds; replaced
_TRANSPORT_BIND_CALL = "self.socket.bind(*templateAddr.addressDetails.bindArgs)"
_ADDRESS_BINDNAME = "self.bindname = ('', sa[1]) if external else sa"
_PATCH_MARK = "_kestrel_loopback_bind"


class ThespianHardeningError(RuntimeError):
    """The installed thespian does not look like the code this hardening was verified on."""


def set_parent_death_signal(signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``signum`` when our parent dies; True if it is in place."""
    if not sys.platform.startswith("linux"):
        logger.debug("PR_SET_PDEATHSIG is Linux-only; skipped")
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        return False
    if os.getppid() == 1:
        # the parent died before prctl took effect: the signal will never come, so act now
        os.kill(os.getpid(), signum)
    return True


def _loopback_bind_args(self: Any) -> tuple[tuple[str, int]]:
    host, port = self.bindname[0], self.bindname[1]
    return ((LOOPBACK if host in _WILDCARD_HOSTS else host, port),)


def bind_actor_sockets_to_loopback() -> None:
    """Patch thespian (idempotent) so every TCP actor/admin/logger socket binds 127.0.0.1."""
    version = importlib.metadata.version("thespian")
    if version not in VERIFIED_THESPIAN_VERSIONS:
        raise ThespianHardeningError(
            f"thespian {version} is installed; the loopback-bind patch was verified on "
            f"{', '.join(VERIFIED_THESPIAN_VERSIONS)} only: re-check "
            "thespian/system/transport/TCPTransport.py and IPBase.py, then extend "
            "VERIFIED_THESPIAN_VERSIONS")
    ip_base: Any = importlib.import_module("thespian.system.transport.IPBase")
    tcp_transport: Any = importlib.import_module("thespian.system.transport.TCPTransport")
    address_class = ip_base.TCPv4ActorAddress
    if getattr(address_class, _PATCH_MARK, False):
        return
    transport_source = inspect.getsource(tcp_transport.TCPTransport.__init__)
    address_source = inspect.getsource(ip_base.IPActorAddress.__init__)
    bind_args = inspect.getattr_static(ip_base.IPActorAddress, "bindArgs", None)
    if _TRANSPORT_BIND_CALL not in transport_source or _ADDRESS_BINDNAME not in address_source \
            or not isinstance(bind_args, property):
        raise ThespianHardeningError(
            "thespian's TCP bind moved: expected TCPTransport.__init__ to call "
            f"{_TRANSPORT_BIND_CALL!r} and IPActorAddress to set {_ADDRESS_BINDNAME!r}; "
            "the loopback-bind patch cannot be applied safely")
    if tcp_transport.TCPv4ActorAddress is not address_class and \
            not issubclass(tcp_transport.TCPv4ActorAddress, address_class):
        raise ThespianHardeningError("TCPTransport no longer uses IPBase.TCPv4ActorAddress")
    current = os.environ.get("THESPIAN_BASE_IPADDR")
    if current not in (None, "", LOOPBACK):
        raise ThespianHardeningError(
            f"THESPIAN_BASE_IPADDR={current!r}: the operator's actor system is loopback-only")
    os.environ["THESPIAN_BASE_IPADDR"] = LOOPBACK
    address_class.bindArgs = property(_loopback_bind_args)
    setattr(address_class, _PATCH_MARK, True)
    logger.debug("thespian %s: TCP actor sockets bind %s", version, LOOPBACK)


def child_process_id(actor: Any, address: Any) -> int:
    """The OS pid of ``actor``'s child at ``address`` (0 if unknown or not multiproc).

    Reads thespian 4.0.1's ``MultiProcReplicator._child_procs`` (``ChildInfo.childAddr``,
    ``childRealAddr``, ``childProc.pid``): the only place a parent knows a child's pid before
    the child has said a word (e.g. one stuck in ``configure``). Missing attributes give 0.
    """
    manager = getattr(actor, "_myRef", None)
    for info in list(getattr(manager, "_child_procs", None) or []):
        for known in (getattr(info, "childRealAddr", None), getattr(info, "childAddr", None)):
            if known is not None and known == address:
                return int(getattr(getattr(info, "childProc", None), "pid", 0) or 0)
    return 0
