"""``SimulatedCloud``: the token endpoint, the stream server and a test PKI, started together.

Owns a work directory holding the PKI (``pki.mint_pki``) and the client id/secret files the
operator reads, starts ``TokenEndpoint`` and ``StreamServer`` on loopback ephemeral ports (or
given ones), and exposes the recorder and the fault switches. ``close()`` stops both servers;
it is safe to call twice. Used by system tests, the uplink benchmark and ``python -m sim.cloud``.
"""

from __future__ import annotations

import pathlib
import secrets

from sim.cloud.pki import PkiPaths, mint_pki
from sim.cloud.stream_server import CloudRecorder, StreamServer
from sim.cloud.token_server import TokenEndpoint

__all__ = ["SimulatedCloud"]


class SimulatedCloud:
    """Kestrel Cloud's two endpoints with one client registered."""

    def __init__(self, workdir: str | pathlib.Path, *, cluster_id: str = "cluster-test",
                 token_ttl_s: float = 300.0, ack_every: int = 32, ack_interval_s: float = 0.05,
                 heartbeat_interval_s: float = 5.0, keep_payloads: bool = True,
                 stream_port: int = 0, token_port: int = 0) -> None:
        self.workdir = pathlib.Path(workdir)
        self.pki: PkiPaths = mint_pki(self.workdir / "pki", cluster_id=cluster_id)
        self.client_id = cluster_id
        self.client_id_file = self.workdir / "client-id"
        self.client_secret_file = self.workdir / "client-secret"
        secret = secrets.token_urlsafe(18)
        self.client_id_file.write_text(self.client_id, encoding="utf-8")
        self.client_secret_file.write_text(secret, encoding="utf-8")
        self.client_secret_file.chmod(0o600)
        self.token_endpoint = TokenEndpoint(cert_file=str(self.pki.server_cert),
                                            key_file=str(self.pki.server_key),
                                            clients={cluster_id: secret},
                                            token_ttl_s=token_ttl_s, port=token_port)
        self.recorder = CloudRecorder(keep_payloads=keep_payloads)
        self.stream = StreamServer(ca_file=str(self.pki.ca_cert),
                                   cert_file=str(self.pki.server_cert),
                                   key_file=str(self.pki.server_key),
                                   tokens=self.token_endpoint.tokens, recorder=self.recorder,
                                   port=stream_port, ack_every=ack_every,
                                   ack_interval_s=ack_interval_s,
                                   heartbeat_interval_s=heartbeat_interval_s)
        self._started = False

    def start(self) -> SimulatedCloud:
        self.token_endpoint.start()
        self.stream.start()
        self._started = True
        return self

    def close(self) -> None:
        if self._started:
            self._started = False
            self.stream.stop()
            self.token_endpoint.stop()

    def __enter__(self) -> SimulatedCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stream_address(self) -> str:
        return self.stream.address

    @property
    def token_url(self) -> str:
        return self.token_endpoint.url

    def uplink_settings(self) -> dict[str, object]:
        """The operator-side ``uplink:`` settings that reach this cloud (plain mapping)."""
        return {"cluster_id": self.client_id, "server_address": self.stream_address,
                "server_name": "localhost", "token_url": self.token_url,
                "client_id_file": str(self.client_id_file),
                "client_secret_file": str(self.client_secret_file),
                "ca_file": str(self.pki.ca_cert), "cert_file": str(self.pki.client_cert),
                "key_file": str(self.pki.client_key)}
