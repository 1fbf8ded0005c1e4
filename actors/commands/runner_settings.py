"""The ``command_runner`` component's settings: topology keys → ``CommandSettings`` + endpoints.

The topology (and the Helm chart) set ``safe_apply``, ``timeout_s``, ``max_output_bytes``,
``concurrency``, ``extra_shell_allowlist``, ``queue_depth``, ``api_concurrency``, ``api_url``
(empty: in-cluster), ``token_file``, ``ca_file``, ``audit_path`` and the Hubble Relay keys:
``hubble_relay_address`` (empty: discover Service ``hubble_relay_service`` in
``hubble_relay_namespaces`` through the Kubernetes API), ``hubble_tls_enabled`` (default true;
false is the only way to plaintext), ``hubble_tls_server_name``, ``hubble_tls_ca_file``,
``hubble_tls_ca_secret`` and ``hubble_tls_client_secret``, mapped by ``hubble_relay_settings``
onto the flow collector's ``FlowSettings`` exactly as ``collector_settings`` maps its own
``relay_address``/``tls_*`` keys. ``extra_shell_allowlist`` is a list of rules ``{program, checker,
subcommands, flags, value_flags, max_positionals, args}`` (or a mapping program → rule) added to
the read-only default allowlist; ``args`` (the chart's form) is a list of regexes every argument
must fully match, checked on top of the policy (``shell_arg_patterns``), never instead of it.
``problems`` yields ``(key, message)`` for the registry's check; ``runner_settings`` never
raises on bad input (it reports). ``kube_endpoint`` picks the API server: ``api_url`` with its
token/CA files, or the in-cluster service account; plain ``http://`` only to a loopback host
(simulators).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from actors.commands.k8s_client_adapter import KubeEndpoint
from actors.commands.k8s_request import KubeTransportFailureError, TransportResponse
from actors.commands.settings import (
    CommandSettings,
    ProgramRule,
    default_allowlist,
    program_rule_from_mapping,
)
from actors.commands.shell_arg_patterns import compile_patterns
from actors.flows.settings import FlowSettings, server_name

__all__ = ["RunnerSettings", "UnconfiguredTransport", "hubble_relay_settings", "kube_endpoint",
           "problems", "runner_settings"]

_STRING_KEYS = ("api_url", "token_file", "ca_file", "audit_path", "hubble_relay_address",
                "hubble_tls_ca_file", "hubble_tls_client_secret", "hubble_tls_server_name",
                "hubble_tls_ca_secret", "hubble_relay_service")
_RELAY_DEFAULTS = FlowSettings()
# FlowSettings.problems() keys → the command runner's keys
_RELAY_KEYS = {"relay_address": "hubble_relay_address", "tls_mode": "hubble_tls_enabled",
               "relay_namespaces": "hubble_relay_namespaces",
               "tls_client_cert_file": "hubble_tls_client_secret"}
_RULE_KEYS = frozenset({"program", "checker", "subcommands", "flags", "value_flags",
                        "max_positionals", "args"})
_MIN_MAX_TIMEOUT_S = 120.0
_MIN_FETCH_CAP = 8 << 20


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunnerSettings:
    """Everything the command runner actor needs, typed."""

    commands: CommandSettings
    api_url: str = ""
    token_file: str = ""
    ca_file: str = ""
    hubble_relay_address: str = ""
    hubble_relay: FlowSettings = dataclasses.field(     # where/how to reach the relay
        default_factory=lambda: FlowSettings(tls_mode="tls"))
    hubble_tls_client_secret: str = ""       # Secret with tls.crt/tls.key for relay mTLS
    api_concurrency: int = 4
    arg_patterns: Mapping[str, tuple[re.Pattern[str], ...]] = dataclasses.field(
        default_factory=dict)     # extra programs whose arguments must match regexes


def runner_settings(values: Mapping[str, Any]) -> tuple[RunnerSettings, list[str]]:
    """Typed settings from the validated component values, with every problem found."""
    errors = [f"{key}: {message}" for key, message in _string_problems(values)]
    extra, patterns, rule_errors = _extra_rules(values.get("extra_shell_allowlist") or ())
    errors.extend(rule_errors)
    allowlist = {**default_allowlist(), **extra}
    timeout_s = float(values.get("timeout_s", 30.0))
    output_cap = int(values.get("max_output_bytes", 1 << 20))
    commands = CommandSettings(
        allowlist=allowlist, timeout_s=timeout_s,
        max_timeout_s=max(_MIN_MAX_TIMEOUT_S, timeout_s), output_cap_bytes=output_cap,
        api_fetch_cap_bytes=max(_MIN_FETCH_CAP, output_cap),
        concurrency=int(values.get("concurrency", 4)),
        queue_depth=int(values.get("queue_depth", 64)),
        safe_apply=bool(values.get("safe_apply", False)),
        audit_path=_string(values, "audit_path"))
    errors.extend(f"{key}: {message}" for key, message in commands.problems())
    relay, relay_errors = hubble_relay_settings(values)
    errors.extend(relay_errors)
    settings = RunnerSettings(
        commands=commands, api_url=_string(values, "api_url"),
        token_file=_string(values, "token_file"), ca_file=_string(values, "ca_file"),
        hubble_relay_address=_string(values, "hubble_relay_address"), hubble_relay=relay,
        hubble_tls_client_secret=_string(values, "hubble_tls_client_secret"),
        api_concurrency=int(values.get("api_concurrency", 4)), arg_patterns=patterns)
    return settings, errors


def hubble_relay_settings(values: Mapping[str, Any]) -> tuple[FlowSettings, list[str]]:
    """The relay target settings (the flow collector's ``FlowSettings``) and their problems.

    ``hubble_tls_enabled`` true → ``tls_mode="tls"`` (TLS whatever the port; the CA from
    ``hubble_tls_ca_file`` or Secret ``hubble_tls_ca_secret``), false → ``"plaintext"`` (the CA
    file is then ignored, as the collector does); a wildcard server name becomes ``instance.``.
    """
    errors: list[str] = []
    enabled = values.get("hubble_tls_enabled", True)
    if not isinstance(enabled, bool):
        errors.append(f"hubble_tls_enabled: must be true or false, got {enabled!r}")
        enabled = True
    namespaces = values.get("hubble_relay_namespaces", _RELAY_DEFAULTS.relay_namespaces)
    if isinstance(namespaces, str) or not isinstance(namespaces, list | tuple) or not all(
            isinstance(name, str) and name for name in namespaces):
        errors.append("hubble_relay_namespaces: must be a list of non-empty namespace names")
        namespaces = _RELAY_DEFAULTS.relay_namespaces
    named = {key: _string(values, key) or str(getattr(_RELAY_DEFAULTS, field)) for key, field in
             (("hubble_relay_service", "relay_service"), ("hubble_tls_ca_secret", "tls_ca_secret"),
              ("hubble_tls_server_name", "tls_server_name"))}
    address = _string(values, "hubble_relay_address")
    relay = FlowSettings(
        relay_address=address, relay_service=named["hubble_relay_service"],
        relay_namespaces=tuple(namespaces), tls_mode="tls" if enabled else "plaintext",
        tls_ca_file=_string(values, "hubble_tls_ca_file") if enabled else "",
        tls_ca_secret=named["hubble_tls_ca_secret"],
        tls_server_name=server_name(named["hubble_tls_server_name"]))
    if ":" in address and not address.rpartition(":")[2].isdigit():
        errors.append(f"hubble_relay_address: needs host:port, got {address!r}")
    errors.extend(f"{_RELAY_KEYS.get(key, 'hubble_' + key)}: {message}"
                  for key, message in relay.problems())
    return relay, errors


def problems(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """For ``ComponentType.check``: ``(key, message)`` per problem."""
    _, errors = runner_settings(values)
    for error in errors:
        key, _, message = error.partition(": ")
        yield key, message


def kube_endpoint(settings: RunnerSettings, environ: Mapping[str, str]) -> KubeEndpoint:
    """The API server to use; raises ``ValueError`` with a readable reason if there is none."""
    if not settings.api_url:
        return KubeEndpoint.in_cluster(environ)
    parts = urllib.parse.urlsplit(settings.api_url)
    plain = parts.scheme == "http"
    if plain and not _is_loopback(parts.hostname or ""):
        raise ValueError("plain http:// API URLs are only accepted for loopback simulators")
    return KubeEndpoint(server=settings.api_url, ca_path=settings.ca_file,
                        token_path=settings.token_file, allow_plain_http=plain)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _string(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key, "")
    return value if isinstance(value, str) else ""


def _string_problems(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key in _STRING_KEYS:
        value = values.get(key, "")
        if not isinstance(value, str):
            yield key, "must be a string (empty for the default)"
    url = _string(values, "api_url")
    if url and urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        yield "api_url", "must be an https:// URL (or empty for in-cluster)"


def _extra_rules(raw: Any) -> tuple[dict[str, ProgramRule],
                                   dict[str, tuple[re.Pattern[str], ...]], list[str]]:
    entries: list[tuple[str, Any]]
    if isinstance(raw, Mapping):
        entries = [(str(name), body) for name, body in raw.items()]
    elif isinstance(raw, list | tuple):
        entries = [(str(body.get("program", "")) if isinstance(body, Mapping) else "", body)
                   for body in raw]
    else:
        return {}, {}, ["extra_shell_allowlist: must be a list of rules {program, flags, ...}"]
    rules: dict[str, ProgramRule] = {}
    patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
    errors: list[str] = []
    for index, (name, body) in enumerate(entries):
        where = f"extra_shell_allowlist[{index}]"
        if not isinstance(body, Mapping) or not name:
            errors.append(f"{where}: must be a mapping with a program name")
            continue
        if "args" in body:
            compiled, problem = compile_patterns(body["args"])
            if problem:
                errors.append(f"{where}.args: {problem}")
                continue
            patterns[name] = compiled
        unknown = sorted(set(body) - _RULE_KEYS)
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(unknown)} (known: "
                          f"{', '.join(sorted(_RULE_KEYS))})")
            continue
        try:
            rules[name] = program_rule_from_mapping(
                name, {key: value for key, value in body.items() if key != "args"})
        except (TypeError, ValueError) as exc:
            errors.append(f"{where}: {exc}")
    return rules, patterns, errors


class UnconfiguredTransport:
    """Stands in for the API transport when no API server is configured: every call fails
    with the reason, so Kubernetes commands get a clear error answer instead of a crash."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def request(self, method: str, path: str, *, body: bytes | None = None,
                content_type: str | None = None, accept: str = "application/json",
                timeout_s: float, max_bytes: int) -> TransportResponse:
        raise KubeTransportFailureError(f"the Kubernetes API is not configured: {self.reason}")
