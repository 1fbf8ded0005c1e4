"""Messages of the command executors: cloud tool requests in, correlated answers out.

Protocol (see actors/commands): the uplink turns a cloud tool request into one of the
``...Requested``/``ManifestsSubmitted`` messages and sends it to the command actor; the actor
answers with the matching ``...Answered`` message carrying the same ``request_id`` (commands are
read-only unless safe-apply is on; every request is audited). Answers hold redacted, size-capped
text; their ``repr`` is constant-time because thespian formats every message on each hop.
``exit_code`` is -1 when the process did not exit by itself; ``status_code`` 0 means no HTTP
response was received (or the document was not sent).
"""

from __future__ import annotations

import dataclasses
import enum

from messages import message

__all__ = [
    "CiliumQueryAnswered",
    "CiliumQueryKind",
    "CiliumQueryRequested",
    "KubeApiPathAnswer",
    "KubeApiReadAnswered",
    "KubeApiReadRequested",
    "ManifestDocumentOutcome",
    "ManifestsAnswered",
    "ManifestsSubmitted",
    "ShellCommandOutcome",
    "ShellCommandsAnswered",
    "ShellCommandsRequested",
]


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShellCommandsRequested:
    """Run each command string (checked against the allowlist, never through a shell)."""

    request_id: str
    commands: tuple[str, ...]
    timeout_s: float = 0.0      # per command; 0 = the configured default

    def __repr__(self) -> str:
        return f"ShellCommandsRequested({self.request_id},n={len(self.commands)})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShellCommandOutcome:
    """completed, refused, timeout, deadline, queue_full, output_capped, failed or cancelled."""

    command: str
    outcome: str
    exit_code: int = -1
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    note: str = ""
    refusal_code: str = ""

    def __repr__(self) -> str:
        return f"ShellCommandOutcome({self.outcome},exit={self.exit_code},{len(self.stdout)}B)"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShellCommandsAnswered:
    """The answers to every command of one request, in request order."""

    request_id: str
    results: tuple[ShellCommandOutcome, ...]
    error: str = ""

    def __repr__(self) -> str:
        return f"ShellCommandsAnswered({self.request_id},n={len(self.results)})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KubeApiReadRequested:
    """GET each API path (allowlisted prefixes and query parameters only)."""

    request_id: str
    api_paths: tuple[str, ...]
    timeout_s: float = 0.0

    def __repr__(self) -> str:
        return f"KubeApiReadRequested({self.request_id},n={len(self.api_paths)})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KubeApiPathAnswer:
    """One API path's answer: real status code, Status message on error."""

    api_path: str
    success: bool
    status_code: int
    body: str = ""              # redacted JSON, or log text
    error_message: str = ""
    truncated: bool = False
    note: str = ""

    def __repr__(self) -> str:
        return f"KubeApiPathAnswer({self.status_code},{len(self.body)}B)"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KubeApiReadAnswered:
    """The answers to every path of one request, in request order."""

    request_id: str
    results: tuple[KubeApiPathAnswer, ...]
    error: str = ""

    def __repr__(self) -> str:
        return f"KubeApiReadAnswered({self.request_id},n={len(self.results)})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ManifestsSubmitted:
    """Server-side dry-run (``dry_run``) or apply of multi-document YAML; refused unless the
    operator runs with safe-apply enabled."""

    request_id: str
    yaml_text: str
    dry_run: bool = True
    default_namespace: str = ""
    timeout_s: float = 0.0

    def __repr__(self) -> str:
        return f"ManifestsSubmitted({self.request_id},dry_run={self.dry_run})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ManifestDocumentOutcome:
    """One YAML document's dry-run or apply result."""

    index: int
    kind: str = ""
    namespace: str = ""
    name: str = ""
    ok: bool = False
    status_code: int = 0
    message: str = ""


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ManifestsAnswered:
    """Per-document results of one dry-run or apply request."""

    request_id: str
    ok: bool
    dry_run: bool
    outcomes: tuple[ManifestDocumentOutcome, ...] = ()
    error: str = ""

    def __repr__(self) -> str:
        return f"ManifestsAnswered({self.request_id},ok={self.ok},n={len(self.outcomes)})"

    __str__ = __repr__


class CiliumQueryKind(enum.Enum):
    """What a CiliumQueryRequested asks for."""

    OBSERVE_FLOWS = "observe_flows"
    SERVER_STATUS = "server_status"
    NODES = "nodes"
    RESOURCES = "resources"


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CiliumQueryRequested:
    """A Hubble query (filters as a JSON object) or a Cilium resource read."""

    request_id: str
    query: CiliumQueryKind
    filters_json: str = "{}"    # OBSERVE_FLOWS: FlowQuery fields
    kind: str = ""              # RESOURCES: CiliumNetworkPolicy, cnp, CiliumEndpoint, ...
    namespace: str = ""
    name: str = ""
    label_selector: str = ""
    timeout_s: float = 0.0


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CiliumQueryAnswered:
    """The answer to one Cilium or Hubble query (JSON body)."""

    request_id: str
    success: bool
    status_code: int = 0
    body: str = ""
    error_message: str = ""
    truncated: bool = False
    note: str = ""

    def __repr__(self) -> str:
        return f"CiliumQueryAnswered({self.request_id},ok={self.success},{len(self.body)}B)"

    __str__ = __repr__
