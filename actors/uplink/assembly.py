"""Builds the uplink's parts from ``UplinkSettings``: spool, core, token source, TLS, adapter.

``build_uplink(settings)`` returns an ``UplinkStack`` whose pieces are wired the way the
CloudUplink actor uses them (the adapter's Hello comes from the core, its inbox feeds the pump).
Nothing is started: ``stack.start()`` starts the adapter thread, ``stack.close()`` stops it and
closes the spool (fsync). Raises ``ValueError`` listing every settings problem instead of
building a half-configured uplink.
"""

from __future__ import annotations

import dataclasses
import queue
import time
from collections.abc import Callable

from actors.uplink.pump import UplinkPump
from actors.uplink.settings import UplinkSettings
from actors.uplink.spool import DiskSpool
from actors.uplink.stream_adapter import CloudStreamAdapter
from actors.uplink.tls import TlsFiles
from actors.uplink.token_source import TokenSource
from actors.uplink.uplink_core import CommandRouted, UplinkCore

__all__ = ["UplinkStack", "build_uplink"]


@dataclasses.dataclass(slots=True)
class UplinkStack:
    """The wired parts of one uplink."""

    core: UplinkCore
    adapter: CloudStreamAdapter
    pump: UplinkPump
    inbox: queue.Queue[object]
    tokens: TokenSource
    tls: TlsFiles

    def start(self) -> None:
        self.adapter.start()

    def close(self) -> None:
        self.adapter.stop()
        self.core.close()

    def counters(self) -> dict[str, float]:
        out = self.core.counters()
        out.update(self.adapter.counters())
        return out


def build_uplink(settings: UplinkSettings, *,
                 on_command: Callable[[CommandRouted], None] | None = None,
                 notify: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 instance_id: str | None = None) -> UplinkStack:
    problems = [f"{key}: {message}" for key, message in settings.problems()]
    if problems:
        raise ValueError("uplink settings: " + "; ".join(problems))
    spool = DiskSpool(settings.spool_dir, max_bytes=settings.spool_max_bytes,
                      segment_bytes=settings.spool_segment_bytes,
                      fsync_interval_s=settings.fsync_interval_s, clock=clock)
    core = UplinkCore(settings, spool=spool, clock=clock, instance_id=instance_id)
    tokens = TokenSource(token_url=settings.token_url, client_id_file=settings.client_id_file,
                         client_secret_file=settings.client_secret_file,
                         ca_file=settings.ca_file, scope=settings.token_scope,
                         leeway_s=settings.token_leeway_s, timeout_s=settings.token_timeout_s)
    tls = TlsFiles(ca_file=settings.ca_file, cert_file=settings.cert_file,
                   key_file=settings.key_file)
    inbox: queue.Queue[object] = queue.Queue(settings.inbox_size)
    adapter = CloudStreamAdapter(settings, tokens=tokens, tls=tls, hello=core.hello, inbox=inbox,
                                 notify=notify, clock=clock)
    pump = UplinkPump(core, adapter, inbox, on_command=on_command)
    return UplinkStack(core, adapter, pump, inbox, tokens, tls)
