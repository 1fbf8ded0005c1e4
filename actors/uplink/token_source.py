"""OAuth2 client-credentials access tokens for the uplink, as gRPC per-RPC call credentials.

Owns the token cache: ``TokenSource.token()`` returns the cached access token while it is more
than ``leeway_s`` from expiry and otherwise fetches a new one with authlib's ``OAuth2Client``
(httpx2, ``grant_type=client_credentials``, HTTP Basic client authentication, verified against
the CA file). The client id and secret are read from FILES on every fetch (a rotated Secret
takes effect without restart) and never appear in logs, errors or ``repr``.
``BearerTokenPlugin`` is the ``grpc.AuthMetadataPlugin`` that puts the cached token on each
RPC (once per stream, not per message); ``refresh_ahead()`` fetches a new token inside the leeway
while a stream is open; ``invalidate()`` drops the cache after UNAUTHENTICATED.

How it fails: any fetch problem (endpoint down, TLS, ``invalid_client``, malformed answer)
raises ``TokenUnavailableError`` with a secret-free reason and is counted; the caller backs off.
"""

from __future__ import annotations

import logging
import pathlib
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import OAuth2Client

__all__ = ["BearerTokenPlugin", "TokenSource", "TokenUnavailableError"]

logger = logging.getLogger(__name__)


class TokenUnavailableError(RuntimeError):
    """No usable access token; the message says why and never contains a secret."""


class TokenSource:
    """Caches one client-credentials token and refreshes it before it expires."""

    def __init__(self, *, token_url: str, client_id_file: str, client_secret_file: str,
                 ca_file: str, scope: str = "", leeway_s: float = 60.0, timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.token_url = token_url
        self._id_file, self._secret_file = client_id_file, client_secret_file
        self._ca_file = ca_file
        self.scope = scope
        self.leeway_s = leeway_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._access_token = ""
        self._expires_at = 0.0
        self._next_ahead_attempt = 0.0
        self.fetches = 0
        self.failures = 0
        self.last_error = ""

    def __repr__(self) -> str:
        return f"TokenSource({self.token_url}, cached={bool(self._access_token)})"

    def token(self) -> str:
        """A valid access token, fetching one if needed; raises ``TokenUnavailableError``."""
        with self._lock:
            if self._access_token and self._clock() < self._expires_at - self.leeway_s:
                return self._access_token
            return self._fetch()

    def refresh_ahead(self) -> bool:
        """Fetch early when the cached token is inside the leeway (rate-limited on failure).

        Called from the stream's idle loop so a fresh token is ready before the cloud ends the
        stream for expiry. Returns True when a new token was fetched; never raises.
        """
        now = self._clock()
        if not self._access_token or now < self._next_ahead_attempt or \
                now < self._expires_at - self.leeway_s:
            return False
        self._next_ahead_attempt = now + max(1.0, min(30.0, self.leeway_s / 4))
        try:
            with self._lock:
                self._fetch()
        except TokenUnavailableError:
            return False
        return True

    def seconds_left(self) -> float:
        return max(0.0, self._expires_at - self._clock()) if self._access_token else 0.0

    def invalidate(self) -> None:
        with self._lock:
            self._access_token, self._expires_at = "", 0.0

    def counters(self) -> dict[str, float]:
        return {"token_fetches": float(self.fetches), "token_failures": float(self.failures),
                "token_seconds_left": self.seconds_left()}

    def _fetch(self) -> str:
        try:
            client_id = _read_secret_file(self._id_file, "client id")
            client_secret = _read_secret_file(self._secret_file, "client secret")
            token = self._request(client_id, client_secret)
        except TokenUnavailableError as exc:
            self.failures += 1
            self.last_error = str(exc)
            logger.warning("uplink token: %s", exc)
            raise
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            self.failures += 1
            self.last_error = "token endpoint answered without an access_token"
            raise TokenUnavailableError(self.last_error)
        expires_in = float(token.get("expires_in") or 0) or 300.0
        self._access_token, self._expires_at = access, self._clock() + expires_in
        self.fetches += 1
        self.last_error = ""
        logger.info("uplink token: fetched a token valid for %.0f s", expires_in)
        return access

    def _request(self, client_id: str, client_secret: str) -> dict[str, Any]:
        try:
            context = ssl.create_default_context(cafile=self._ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TokenUnavailableError(f"CA file {self._ca_file} unusable: {exc}") from None
        try:
            with OAuth2Client(client_id, client_secret, token_endpoint=self.token_url,
                              grant_type="client_credentials", scope=self.scope or None,
                              leeway=int(self.leeway_s), verify=context,
                              timeout=self.timeout_s, trust_env=False) as client:
                return dict(client.fetch_token())
        except AuthlibBaseError as exc:
            raise TokenUnavailableError(f"token endpoint {self.token_url} refused: {exc}") from None
        except httpx2.HTTPError as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            raise TokenUnavailableError(f"token endpoint {self.token_url} unreachable: "
                                        f"{type(exc).__name__}: {first_line}") from None
        except (ValueError, KeyError) as exc:
            raise TokenUnavailableError(f"token endpoint {self.token_url} answered badly: "
                                   f"{type(exc).__name__}") from None


def _read_secret_file(path: str, what: str) -> str:
    try:
        value = pathlib.Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenUnavailableError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if not value:
        raise TokenUnavailableError(f"the {what} file {path} is empty")
    return value


class BearerTokenPlugin(grpc.AuthMetadataPlugin):  # type: ignore[misc]
    """Adds ``authorization: Bearer <token>`` to each RPC (runs on a gRPC thread)."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def __call__(self, context: grpc.AuthMetadataContext,
                 callback: grpc.AuthMetadataPluginCallback) -> None:
        try:
            token = self._source.token()
        except TokenUnavailableError as exc:
            callback((), exc)
            return
        callback((("authorization", "Bearer " + token),), None)
