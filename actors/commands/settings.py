"""Settings of the command executors: the shell allowlist, limits, safe-apply and the audit log.

``CommandSettings.from_mapping`` turns the topology file's plain ``commands:`` section into typed
settings (unknown keys and wrong types are reported, never raised); ``problems()`` yields
``(key, message)`` pairs for every value that would make the executors unsafe or useless. The
default allowlist is read-only: kubectl inspection verbs, cilium/hubble status and flow queries,
DNS lookups and curl GET/HEAD to in-cluster service names. ``COMPONENT_TYPES`` registers the
``command_runner`` component (keys as the Helm chart renders them; see ``runner_settings``),
including the Hubble Relay keys ``hubble_relay_address``, ``hubble_tls_*`` and
``hubble_relay_service``/``hubble_relay_namespaces`` (the flow collector's relay settings).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

from actors.runtime.settings_schema import ComponentType, Kind, Setting

__all__ = ["CHECKERS", "COMPONENT_TYPES", "CommandSettings", "ProgramRule", "default_allowlist",
           "program_rule_from_mapping"]

# Semantic checkers a rule can ask for on top of the flag allowlist (see shell_policy).
CHECKERS = frozenset({"generic", "kubectl", "curl", "dig", "nslookup"})

_SECRETISH_ENV = re.compile(r"(TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION)",
                            re.IGNORECASE)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProgramRule:
    """What one allowlisted program may be called with."""

    program: str                                  # bare name, resolved on the fixed PATH
    checker: str = "generic"                      # extra semantic checks (CHECKERS)
    subcommands: tuple[tuple[str, ...], ...] = ()  # allowed leading positionals; () = none needed
    flags: frozenset[str] = frozenset()           # boolean flags
    value_flags: frozenset[str] = frozenset()     # flags taking a value (--x=v, --x v, -xv)
    max_positionals: int = 8                      # positionals after the subcommand


def _kubectl() -> ProgramRule:
    return ProgramRule(
        program="kubectl", checker="kubectl",
        subcommands=(("get",), ("describe",), ("logs",), ("top", "pod"), ("top", "pods"),
                     ("top", "node"), ("top", "nodes"), ("explain",), ("api-resources",),
                     ("api-versions",), ("version",), ("auth", "can-i")),
        flags=frozenset({"-A", "--all-namespaces", "--show-labels", "--no-headers", "--timestamps",
                         "--previous", "-p", "--all-containers", "--prefix", "--show-kind",
                         "--ignore-not-found", "--containers", "--recursive", "--namespaced",
                         "--client", "--list", "--show-managed-fields", "--sort-by-cpu",
                         "--use-protocol-buffers", "--show-events", "--no-headers=true"}),
        value_flags=frozenset({"-n", "--namespace", "-l", "--selector", "--field-selector",
                               "-o", "--output", "--sort-by", "--tail", "--since", "--since-time",
                               "-c", "--container", "--limit-bytes", "--chunk-size", "-L",
                               "--label-columns", "--api-version", "--verbs", "--api-group",
                               "--subresource", "--request-timeout", "--max-log-requests",
                               "--output-watch-events"}),
        max_positionals=6)


def _cilium() -> ProgramRule:
    return ProgramRule(program="cilium", subcommands=(("status",), ("version",)),
                       flags=frozenset({"--brief", "--verbose"}),
                       value_flags=frozenset({"-n", "--namespace", "-o", "--output",
                                              "--wait-duration"}),
                       max_positionals=0)


def _hubble() -> ProgramRule:
    return ProgramRule(
        program="hubble", subcommands=(("observe",), ("status",), ("list", "nodes")),
        flags=frozenset({"--first", "--print-node-name", "--numeric"}),
        value_flags=frozenset({"--last", "-n", "--namespace", "--pod", "--from-pod", "--to-pod",
                               "--from-namespace", "--to-namespace", "--verdict", "--protocol",
                               "-t", "--type", "-o", "--output", "--since", "--until",
                               "-l", "--label", "--from-label", "--to-label", "--ip", "--from-ip",
                               "--to-ip", "--port", "--from-port", "--to-port", "--http-status",
                               "--http-method", "--http-path", "--node-name", "--identity"}),
        max_positionals=0)


def _dig() -> ProgramRule:
    return ProgramRule(program="dig", checker="dig", flags=frozenset({"-4", "-6"}),
                       value_flags=frozenset({"-t", "-x", "-p", "-c", "-q"}), max_positionals=4)


def _nslookup() -> ProgramRule:
    return ProgramRule(program="nslookup", checker="nslookup", max_positionals=6)


def _curl() -> ProgramRule:
    return ProgramRule(
        program="curl", checker="curl",
        flags=frozenset({"-I", "--head", "-s", "--silent", "-S", "--show-error", "-i",
                         "--include", "-v", "--verbose", "-f", "--fail", "-k", "--insecure",
                         "-G", "--get", "-4", "-6", "--compressed", "-g", "--globoff"}),
        value_flags=frozenset({"-X", "--request", "-m", "--max-time", "--connect-timeout",
                               "-H", "--header", "-w", "--write-out", "-A", "--user-agent",
                               "--max-filesize", "--retry"}),
        max_positionals=1)


def default_allowlist() -> Mapping[str, ProgramRule]:
    """The read-only allowlist used when the topology file does not carry one."""
    rules = (_kubectl(), _cilium(), _hubble(), _dig(), _nslookup(), _curl())
    return {rule.program: rule for rule in rules}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CommandSettings:
    """Limits and policy for every command the cloud sends."""

    allowlist: Mapping[str, ProgramRule] = dataclasses.field(default_factory=default_allowlist)
    search_path: tuple[str, ...] = ("/usr/local/bin", "/usr/bin", "/bin")  # the only PATH used
    env_passthrough: tuple[str, ...] = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
    extra_env: Mapping[str, str] = dataclasses.field(default_factory=dict)  # e.g. KUBECONFIG
    working_dir: str = "/"
    timeout_s: float = 30.0            # default per command; requests may ask for less
    max_timeout_s: float = 120.0       # upper bound on what a request may ask for
    output_cap_bytes: int = 1 << 20    # stdout+stderr of one command, and one API result
    api_fetch_cap_bytes: int = 8 << 20  # raw API body read for parsing before redaction
    concurrency: int = 4               # commands running at once
    queue_depth: int = 64              # commands waiting for a slot
    max_command_chars: int = 4096
    max_args: int = 64
    max_arg_chars: int = 1024
    cluster_domain: str = "cluster.local"
    safe_apply: bool = False           # mutations (dry-run and apply) only when True
    field_manager: str = "kestrel-operator"
    apply_denied_kinds: frozenset[str] = frozenset({
        "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "CustomResourceDefinition",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService"})
    get_path_prefixes: tuple[str, ...] = (
        "/api/v1/", "/apis/apps/", "/apis/batch/", "/apis/networking.k8s.io/",
        "/apis/events.k8s.io/", "/apis/cilium.io/", "/apis/security.istio.io/",
        "/apis/metrics.k8s.io/")
    get_exact_paths: tuple[str, ...] = ("/version", "/api/v1")
    audit_path: str = ""               # empty: audit counted but not written
    audit_max_bytes: int = 10 << 20
    audit_backups: int = 3

    def problems(self) -> Iterator[tuple[str, str]]:
        """Every setting that is out of range, as ``(key, message)``."""
        positive = {"timeout_s": self.timeout_s, "max_timeout_s": self.max_timeout_s,
                    "output_cap_bytes": self.output_cap_bytes,
                    "api_fetch_cap_bytes": self.api_fetch_cap_bytes,
                    "concurrency": self.concurrency, "queue_depth": self.queue_depth,
                    "max_command_chars": self.max_command_chars, "max_args": self.max_args,
                    "max_arg_chars": self.max_arg_chars, "audit_max_bytes": self.audit_max_bytes}
        for key, value in positive.items():
            if value <= 0:
                yield key, f"must be > 0, got {value!r}"
        if self.timeout_s > self.max_timeout_s:
            yield "timeout_s", "must not exceed max_timeout_s"
        if self.api_fetch_cap_bytes < self.output_cap_bytes:
            yield "api_fetch_cap_bytes", "must be >= output_cap_bytes"
        if self.audit_backups < 0:
            yield "audit_backups", "must be >= 0"
        for path in self.search_path:
            if not path.startswith("/"):
                yield "search_path", f"entry {path!r} must be absolute"
        for name in (*self.env_passthrough, *self.extra_env):
            if _SECRETISH_ENV.search(name) or name.startswith("AWS_"):
                yield "env_passthrough", f"{name!r} looks like a credential; it is never passed"
        for name, rule in self.allowlist.items():
            if name != rule.program or "/" in name or not name:
                yield f"allowlist.{name}", "program must be a bare name equal to its key"
            if rule.checker not in CHECKERS:
                yield f"allowlist.{name}.checker", f"unknown checker {rule.checker!r}"
        if not self.field_manager:
            yield "field_manager", "must not be empty"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> tuple[CommandSettings, list[str]]:
        """Typed settings from plain data; unknown keys and bad types are returned as errors."""
        errors: list[str] = []
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                errors.append(f"commands.{key}: unknown setting")
                continue
            try:
                values[key] = _convert(key, value)
            except (TypeError, ValueError) as exc:
                errors.append(f"commands.{key}: {exc}")
        settings = cls(**values)
        errors.extend(f"commands.{key}: {msg}" for key, msg in settings.problems())
        return settings, errors


def _convert(key: str, value: Any) -> Any:
    if key == "allowlist":
        if not isinstance(value, Mapping):
            raise TypeError("must be a mapping of program name to rule")
        return {name: _rule(name, body) for name, body in value.items()}
    if key in ("search_path", "env_passthrough", "get_path_prefixes", "get_exact_paths"):
        return tuple(str(v) for v in _sequence(value))
    if key == "apply_denied_kinds":
        return frozenset(str(v) for v in _sequence(value))
    if key == "extra_env":
        if not isinstance(value, Mapping):
            raise TypeError("must be a mapping")
        return {str(k): str(v) for k, v in value.items()}
    if key == "safe_apply":
        if not isinstance(value, bool):
            raise TypeError("must be true or false")
        return value
    if key in ("timeout_s", "max_timeout_s"):
        return float(value)
    if key in ("working_dir", "cluster_domain", "field_manager", "audit_path"):
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("must be an integer")
    return value


def _sequence(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError("must be a list")
    return list(value)


def _rule(name: str, body: Any) -> ProgramRule:
    if not isinstance(body, Mapping):
        raise TypeError(f"rule for {name!r} must be a mapping")
    subcommands = tuple(tuple(str(w) for w in str(s).split()) for s in
                        _sequence(body.get("subcommands", [])))
    return ProgramRule(program=str(name), checker=str(body.get("checker", "generic")),
                       subcommands=subcommands,
                       flags=frozenset(str(f) for f in _sequence(body.get("flags", []))),
                       value_flags=frozenset(str(f) for f in
                                             _sequence(body.get("value_flags", []))),
                       max_positionals=int(body.get("max_positionals", 8)))


def program_rule_from_mapping(name: str, body: Any) -> ProgramRule:
    """A ``ProgramRule`` from plain data (raises TypeError/ValueError on bad input)."""
    return _rule(name, body)


def _runner_problems(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    from actors.commands import runner_settings
    return runner_settings.problems(values)


def _optional_text(name: str, default: str, doc: str) -> Setting:
    return Setting(name=name, kind=Kind.ANY, default=default, doc=doc + " (a string)")


COMPONENT_TYPES = (ComponentType(
    name="command_runner", actor_class="actors.commands.command_runner_actor.CommandRunner",
    doc="runs the cloud's commands (k8s_get, shell, yaml_dry_run/apply, cilium) safely",
    settings=(
        Setting(name="safe_apply", kind=Kind.BOOL, default=False,
                doc="allow YAML dry-run and server-side apply; off = read-only"),
        Setting(name="timeout_s", kind=Kind.DURATION, default=30.0, minimum=0,
                exclusive_minimum=True, doc="default time budget of one command"),
        Setting(name="max_output_bytes", kind=Kind.INT, default=1 << 20, minimum=1024,
                maximum=64 << 20, doc="cap on one command's output / API answer"),
        Setting(name="concurrency", kind=Kind.INT, default=4, minimum=1, maximum=64,
                doc="shell commands running at once"),
        Setting(name="queue_depth", kind=Kind.INT, default=64, minimum=1, maximum=10_000,
                doc="commands waiting per pool; beyond it the answer is 'busy'"),
        Setting(name="api_concurrency", kind=Kind.INT, default=4, minimum=1, maximum=32,
                doc="Kubernetes/Cilium calls running at once"),
        Setting(name="extra_shell_allowlist", kind=Kind.ANY, default=(),
                doc="extra rules [{program, checker, subcommands, flags, value_flags, "
                    "max_positionals}]"),
        _optional_text("api_url", "", "API server URL; empty = in-cluster service account"),
        _optional_text("token_file", "", "bearer token file for api_url"),
        _optional_text("ca_file", "", "CA bundle for api_url; empty = system trust"),
        _optional_text("audit_path", "/tmp/kestrel-command-audit.log",
                       "JSON-lines audit trail; empty = counted only"),
        _optional_text("hubble_relay_address", "",
                       "host:port of Hubble Relay for cilium observe/status/nodes; empty = "
                       "discover Service hubble_relay_service through the Kubernetes API"),
        Setting(name="hubble_tls_enabled", kind=Kind.BOOL, default=True,
                doc="TLS to the relay; false = plaintext (never a fallback when TLS fails)"),
        Setting(name="hubble_tls_server_name", kind=Kind.STR,
                default="*.hubble-relay.cilium.io",
                doc="name the relay certificate must carry; a leading '*.' becomes 'instance.'"),
        _optional_text("hubble_tls_ca_file", "",
                       "relay CA file (wins over hubble_tls_ca_secret)"),
        Setting(name="hubble_tls_ca_secret", kind=Kind.STR, default="hubble-relay-server-certs",
                doc="Secret with ca.crt in the relay's namespace"),
        _optional_text("hubble_tls_client_secret", "",
                       "Secret with tls.crt/tls.key for relay mTLS; empty = none"),
        Setting(name="hubble_relay_service", kind=Kind.STR, default="hubble-relay",
                doc="Service name relay discovery looks for"),
        Setting(name="hubble_relay_namespaces", kind=Kind.STR_LIST,
                default=("kube-system", "gke-managed-dpv2-observability"),
                doc="namespaces searched, in order, for the relay Service and its Secrets"),
    ),
    check=_runner_problems),)
