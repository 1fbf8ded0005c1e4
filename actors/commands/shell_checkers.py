"""Per-program semantics of the shell allowlist: subcommands, output formats, URLs, DNS servers.

``shell_policy`` tokenizes and parses flags generically; this module then applies what only the
program's meaning can tell: kubectl verbs and ``-o`` formats (templates that read files are
refused, and Secret reads must use an output that redaction can parse), curl URLs (http/https to
in-cluster service names only, GET/HEAD only, no file reads), dig/nslookup options and servers.
Every refusal is raised as ``RefusedError(code, reason)``; nothing here performs I/O.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse

from actors.commands.settings import CommandSettings, ProgramRule

__all__ = ["GLOB_EXEMPT_FLAGS", "ParsedCommand", "RefusedError", "check", "unknown_flag"]

# Flag values that legitimately carry jsonpath braces/brackets (kubectl -o jsonpath=...).
GLOB_EXEMPT_FLAGS = frozenset({"-o", "--output", "--sort-by"})

_DENIED_FLAGS: dict[str, dict[str, str]] = {
    "kubectl": {
        **dict.fromkeys(("--kubeconfig", "--token", "--as", "--as-group", "--as-uid", "--server",
                         "-s", "--certificate-authority", "--client-certificate", "--client-key",
                         "--insecure-skip-tls-verify", "--username", "--password", "--context",
                         "--cluster", "--user", "--tls-server-name"),
                        "would change the credentials, identity or API server kubectl uses"),
        **dict.fromkeys(("-f", "--filename", "-k", "--kustomize", "--template", "--profile",
                         "--profile-output", "--cache-dir", "--output-directory"),
                        "would read or write local files"),
        **dict.fromkeys(("-w", "--watch", "--watch-only", "--follow"),
                        "streams until the timeout; ask for a snapshot instead"),
        **dict.fromkeys(("-v", "--v", "--vmodule"), "verbose logging can print credentials"),
        "--raw": "raw API paths bypass the resource checks; use the Kubernetes API tool",
    },
    "curl": {
        **dict.fromkeys(("-o", "--output", "-O", "--remote-name", "--output-dir",
                         "--create-dirs", "-D", "--dump-header", "-c", "--cookie-jar",
                         "--trace", "--trace-ascii", "--stderr", "--libcurl"),
                        "would write local files"),
        **dict.fromkeys(("-T", "--upload-file", "-d", "--data", "--data-binary", "--data-raw",
                         "--data-ascii", "--data-urlencode", "-F", "--form", "--json"),
                        "would send a request body (uploads are not allowed)"),
        **dict.fromkeys(("-K", "--config", "-b", "--cookie", "-E", "--cert", "--key",
                         "--cacert", "--netrc", "--netrc-file", "-n"),
                        "would read local files or credentials"),
        **dict.fromkeys(("-x", "--proxy", "--socks5", "--preproxy", "--connect-to", "--resolve",
                         "-L", "--location", "--unix-socket", "--abstract-unix-socket"),
                        "could reach a host outside the cluster's services"),
        **dict.fromkeys(("-u", "--user", "--oauth2-bearer"), "would send credentials"),
        "--url": "give the URL as the only positional argument",
    },
    "dig": {"-f": "would read queries from a file", "-k": "would read a TSIG key file",
            "-y": "would take a TSIG key on the command line", "-b": "binds a local address"},
}
_KUBECTL_MUTATING = {"exec", "cp", "port-forward", "proxy", "edit", "delete", "apply", "patch",
                     "create", "replace", "scale", "run", "attach", "debug", "drain", "cordon",
                     "uncordon", "label", "annotate", "set", "rollout", "taint", "autoscale",
                     "expose", "plugin", "config", "certificate", "wait", "kustomize"}
_KUBECTL_OUTPUTS = {"json", "yaml", "wide", "name"}
_KUBECTL_EXPRESSION_OUTPUTS = ("jsonpath=", "jsonpath-as-json=", "custom-columns=")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?)+$")
_DIG_OPTIONS = {"short", "noall", "answer", "noanswer", "search", "nosearch", "tcp", "notcp",
                "stats", "nostats", "cmd", "nocmd", "comments", "nocomments", "question",
                "noquestion", "authority", "noauthority", "additional", "noadditional",
                "multiline", "nomultiline", "recurse", "norecurse"}
_DIG_NUMERIC_OPTIONS = {"time", "tries", "retry", "ndots"}
_NSLOOKUP_OPTIONS = {"type", "query", "querytype", "port", "timeout", "retry", "q", "t"}
_RECORD_TYPES = {"A", "AAAA", "SRV", "CNAME", "PTR", "TXT", "MX", "NS", "SOA", "ANY", "CAA"}
_SIMPLE_VALUE = re.compile(r"^[A-Za-z0-9._:,=-]{1,128}$")


class RefusedError(Exception):
    """A command was refused: ``code`` for counters, ``reason`` for the cloud."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclasses.dataclass(slots=True)
class ParsedCommand:
    """A tokenized command split into options and positionals (mutable while parsing)."""

    rule: ProgramRule
    argv: tuple[str, ...]
    options: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)
    positionals: list[str] = dataclasses.field(default_factory=list)

    def values(self, *names: str) -> list[str]:
        return [value for name, value in self.options if name in names and value is not None]


def unknown_flag(rule: ProgramRule, name: str) -> RefusedError:
    denied = _DENIED_FLAGS.get(rule.checker, {}).get(name)
    if denied:
        return RefusedError("denied_flag", f"{rule.program} flag {name} is refused: {denied}")
    return RefusedError("unlisted_flag", f"{rule.program} flag {name} is not on the allowlist")


def check(parsed: ParsedCommand, settings: CommandSettings) -> None:
    """Raise ``RefusedError`` unless the parsed command fits its rule's semantics."""
    rule = parsed.rule
    rest = _match_subcommand(parsed)
    if len(rest) > rule.max_positionals:
        raise RefusedError(
            "too_many_args",
            f"{rule.program} takes at most {rule.max_positionals} "
            "arguments here")
    if rule.checker == "kubectl":
        _check_kubectl(parsed, rest)
    elif rule.checker == "curl":
        _check_curl(parsed, rest, settings)
    elif rule.checker == "dig":
        _check_dig(rest, settings)
    elif rule.checker == "nslookup":
        _check_nslookup(rest, settings)
    else:
        for value in parsed.values("-o", "--output"):
            if not re.fullmatch(r"[A-Za-z-]{1,32}", value):
                raise RefusedError("output_format", f"output format {value!r} is not accepted")


def _match_subcommand(parsed: ParsedCommand) -> list[str]:
    rule, positionals = parsed.rule, parsed.positionals
    if not rule.subcommands:
        return positionals
    matches = [sub for sub in rule.subcommands if tuple(positionals[:len(sub)]) == sub]
    if not matches:
        verb = " ".join(positionals[:2]) or "(none)"
        allowed = ", ".join(" ".join(sub) for sub in rule.subcommands)
        extra = " (it can change or enter the cluster)" if positionals and \
            positionals[0] in _KUBECTL_MUTATING else ""
        raise RefusedError(
            "unlisted_subcommand",
            f"{rule.program} subcommand {verb!r} is not "
            f"allowed{extra}; allowed: {allowed}")
    return positionals[len(max(matches, key=len)):]


def _check_kubectl(parsed: ParsedCommand, resources: list[str]) -> None:
    touches_secrets = any("secret" in arg.lower() for arg in resources)
    for value in parsed.values("-o", "--output"):
        if value in _KUBECTL_OUTPUTS:
            continue
        if not value.startswith(_KUBECTL_EXPRESSION_OUTPUTS):
            raise RefusedError(
                "output_format",
                f"kubectl output {value.split('=')[0]!r} is not "
                "accepted (json, yaml, wide, name, jsonpath=, "
                "custom-columns=)")
        if touches_secrets:
            raise RefusedError(
                "secret_output",
                "Secrets can only be read as json, yaml, wide or "
                "name, so that their values can be redacted")


def _check_curl(parsed: ParsedCommand, urls: list[str], settings: CommandSettings) -> None:
    for method in parsed.values("-X", "--request"):
        if method not in ("GET", "HEAD"):
            raise RefusedError(
                "http_method",
                f"curl method {method!r} is refused: only GET and HEAD")
    for name, value in parsed.options:
        if value is not None and value.startswith("@"):
            raise RefusedError(
                "file_read",
                f"curl {name} value starting with '@' would read a file")
    if len(urls) != 1:
        raise RefusedError("url", "curl needs exactly one URL")
    _check_service_url(urls[0], settings)


def _check_service_url(url: str, settings: CommandSettings) -> None:
    if "%" in url:
        raise RefusedError("url", "percent-encoded URLs are not accepted")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not url.lower().startswith(parts.scheme + "://"):
        raise RefusedError(
            "url_scheme",
            f"URL scheme {parts.scheme or '(none)'!r} is refused: only "
            "http:// and https:// to in-cluster services")
    if "@" in parts.netloc:
        raise RefusedError("url", "credentials in URLs are not accepted")
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise RefusedError("url", "the URL port is not a number") from None
    if port == 0:
        raise RefusedError("url", "port 0 is not accepted")
    _require_service_name(host, settings, "URL host")
    if host.lower().rstrip(".").startswith("kubernetes.default."):
        raise RefusedError(
            "not_in_cluster",
            "the API server is not reachable through curl; use the Kubernetes API tool")


def _require_service_name(host: str, settings: CommandSettings, what: str) -> None:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise RefusedError(
            "not_in_cluster",
            f"{what} {host!r} is an IP address; use a service DNS "
            "name (<svc>.<ns>.svc)")
    name = host.lower().rstrip(".")
    suffixes = (".svc", f".svc.{settings.cluster_domain.lower()}")
    if not _DNS_NAME.match(name) or not name.endswith(suffixes) or name.count(".") < 2:
        raise RefusedError(
            "not_in_cluster",
            f"{what} {host!r} is not an in-cluster service name "
            f"(<svc>.<ns>.svc or <svc>.<ns>{suffixes[1]})")


def _check_dig(arguments: list[str], settings: CommandSettings) -> None:
    for arg in arguments:
        if arg.startswith("@"):
            _require_service_name(arg[1:], settings, "DNS server")
        elif arg.startswith("+"):
            option, _, value = arg[1:].partition("=")
            if option in _DIG_NUMERIC_OPTIONS and value.isdigit() and len(value) < 4:
                continue
            if option not in _DIG_OPTIONS or value:
                raise RefusedError("unlisted_flag", f"dig option {arg!r} is not on the allowlist")
        elif arg.upper() not in _RECORD_TYPES and not _DNS_NAME.match(arg):
            raise RefusedError("dns_name", f"{arg!r} is not a DNS name or record type")


def _check_nslookup(arguments: list[str], settings: CommandSettings) -> None:
    names = []
    for arg in arguments:
        if arg.startswith("-"):
            option, _, value = arg[1:].partition("=")
            if option not in _NSLOOKUP_OPTIONS or not _SIMPLE_VALUE.match(value):
                raise RefusedError(
                    "unlisted_flag",
                    f"nslookup option {arg!r} is not on the allowlist")
        elif not _DNS_NAME.match(arg):
            raise RefusedError("dns_name", f"{arg!r} is not a DNS name")
        else:
            names.append(arg)
    if not names:
        raise RefusedError("dns_name", "nslookup needs a name (interactive mode is not available)")
    if len(names) == 2:
        _require_service_name(names[1], settings, "DNS server")
