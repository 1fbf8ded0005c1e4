"""Decides whether a shell command string from the cloud may run, and as which argv.

The command is never given to a shell. It is checked character by character (printable ASCII
only, no shell metacharacters, no backslashes), split with ``shlex`` in POSIX mode, and then
checked token by token against the program's ``ProgramRule``: the program must be a bare,
allowlisted name; every flag must be on the rule's flag allowlist (denied flags get a specific
reason); paths, traversal, globs and env assignments are refused; ``shell_checkers`` adds the
per-program semantics (kubectl verbs and output formats, curl URLs, dig/nslookup servers).
Every refusal is a ``ShellDecision`` with a short ``code`` (for counters) and a readable
``reason``; this module never raises on bad input and never executes anything.
"""

from __future__ import annotations

import dataclasses
import re
import shlex

from actors.commands import shell_checkers
from actors.commands.settings import CommandSettings, ProgramRule
from actors.commands.shell_checkers import ParsedCommand, RefusedError

__all__ = ["ShellDecision", "evaluate"]

_METACHARACTERS = {";": "command separator ';'", "&": "'&' (background or &&)", "|": "pipe '|'",
                   "`": "backtick substitution", "$": "'$' (variable or $() substitution)",
                   "(": "'(' (subshell or substitution)", ")": "')' (subshell or substitution)",
                   "<": "input redirection '<'", ">": "output redirection '>'"}
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_GLOB_CHARS = frozenset("*?[]{}")
_NO_SHELL = "commands run as argv without a shell"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShellDecision:
    """The verdict on one command string."""

    allowed: bool
    argv: tuple[str, ...]   # empty when refused
    reason: str             # why it was refused ("" when allowed)
    code: str = "allowed"   # short refusal class for counters

    @classmethod
    def refuse(cls, code: str, reason: str) -> ShellDecision:
        return cls(allowed=False, argv=(), reason=reason, code=code)


def evaluate(command: str, settings: CommandSettings) -> ShellDecision:
    """Allow ``command`` as an argv, or refuse it with a reason. Never raises."""
    try:
        argv = _tokenize(command, settings)
        rule = _program_rule(argv, settings)
        parsed = _parse_flags(argv, rule)
        _check_tokens(parsed)
        shell_checkers.check(parsed, settings)
    except RefusedError as refusal:
        return ShellDecision.refuse(refusal.code, refusal.reason)
    return ShellDecision(allowed=True, argv=tuple(argv), reason="")


def _tokenize(command: str, settings: CommandSettings) -> list[str]:
    if not isinstance(command, str) or not command.strip():
        raise RefusedError("empty", "the command is empty")
    if len(command) > settings.max_command_chars:
        raise RefusedError(
            "too_long",
            f"the command is longer than {settings.max_command_chars} "
            "characters")
    for char in command:
        code = ord(char)
        if char == "\x00":
            raise RefusedError("control_character", "NUL byte in the command")
        if char in "\n\r":
            raise RefusedError(
                "newline",
                f"newline in the command ({_NO_SHELL}; send one command "
                "per entry)")
        if code < 32 or code == 127:
            raise RefusedError(
                "control_character",
                f"control character U+{code:04X} in the command")
        if code > 126:
            raise RefusedError(
                "non_ascii",
                f"non-ASCII character U+{code:04X} in the command "
                "(lookalike characters are refused)")
        if char in _METACHARACTERS:
            raise RefusedError(
                "shell_metacharacter",
                f"shell metacharacter: {_METACHARACTERS[char]}; "
                f"{_NO_SHELL}, so pipes, redirections, "
                "substitutions and chaining are not supported")
        if char == "\\":
            raise RefusedError("backslash", "backslash escapes are not accepted")
    try:
        lexer = shlex.shlex(command, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        argv = list(lexer)
    except ValueError as exc:
        raise RefusedError("unbalanced_quotes", f"cannot split the command: {exc}") from None
    if not argv:
        raise RefusedError("empty", "the command is empty")
    if len(argv) > settings.max_args:
        raise RefusedError("too_many_args", f"more than {settings.max_args} arguments")
    for token in argv:
        if len(token) > settings.max_arg_chars:
            raise RefusedError(
                "arg_too_long",
                f"an argument is longer than {settings.max_arg_chars} "
                "characters")
        if not token:
            raise RefusedError("empty_argument", "empty arguments are not accepted")
    return argv


def _program_rule(argv: list[str], settings: CommandSettings) -> ProgramRule:
    program = argv[0]
    if _ENV_ASSIGNMENT.match(program):
        raise RefusedError(
            "env_assignment",
            f"environment assignments ({program.split('=')[0]}=...) "
            "are not allowed")
    if "/" in program or program in (".", ".."):
        raise RefusedError(
            "program_path",
            f"program {program!r} must be a bare name from the "
            "allowlist, not a path")
    rule = settings.allowlist.get(program)
    if rule is None:
        allowed = ", ".join(sorted(settings.allowlist)) or "none"
        raise RefusedError(
            "unlisted_program",
            f"program {program!r} is not allowlisted "
            f"(allowed: {allowed})")
    return rule


def _parse_flags(argv: list[str], rule: ProgramRule) -> ParsedCommand:
    parsed = ParsedCommand(rule=rule, argv=tuple(argv))
    if rule.checker == "nslookup":  # single-dash long options: checked by its checker
        parsed.positionals.extend(argv[1:])
        return parsed
    index = 1
    while index < len(argv):
        token = argv[index]
        index += 1
        if token == "--":  # noqa: S105 - the end-of-options marker, not a password
            raise RefusedError("end_of_options", "the end-of-options marker '--' is not accepted")
        if token.startswith("--"):
            name, has_value, value = token.partition("=")
            if name in rule.value_flags:
                if not has_value:
                    value, index = _next_value(argv, index, name)
                parsed.options.append((name, value))
            elif name in rule.flags and (not has_value or value in ("true", "false")):
                parsed.options.append((name, None))
            else:
                raise shell_checkers.unknown_flag(rule, name)
        elif token.startswith("-") and len(token) > 1:
            index = _parse_short_cluster(parsed, argv, token, index)
        else:
            parsed.positionals.append(token)
    return parsed


def _parse_short_cluster(parsed: ParsedCommand, argv: list[str], token: str, index: int) -> int:
    """POSIX getopt clustering: ``-sS``, ``-ojson``, ``-n kube-system``."""
    rule = parsed.rule
    for offset in range(1, len(token)):
        name = "-" + token[offset]
        if name in rule.value_flags:
            value = token[offset + 1:]
            if value.startswith("="):
                value = value[1:]
            if not value:
                value, index = _next_value(argv, index, name)
            parsed.options.append((name, value))
            return index
        if name not in rule.flags:
            raise shell_checkers.unknown_flag(rule, name)
        parsed.options.append((name, None))
    return index


def _next_value(argv: list[str], index: int, name: str) -> tuple[str, int]:
    if index >= len(argv):
        raise RefusedError("missing_value", f"flag {name} needs a value")
    return argv[index], index + 1


def _check_tokens(parsed: ParsedCommand) -> None:
    tokens = [(token, False) for token in parsed.positionals]
    tokens += [(value, name in shell_checkers.GLOB_EXEMPT_FLAGS)
               for name, value in parsed.options if value is not None]
    for token, glob_allowed in tokens:
        if token.startswith("~"):
            raise RefusedError("path_trick", f"home-directory paths are not accepted: {token!r}")
        if token.startswith("/") or "=/" in token:
            raise RefusedError("absolute_path", f"absolute paths are not accepted: {token!r}")
        if ".." in re.split(r"[/=]", token):
            raise RefusedError("path_traversal", f"'..' path segments are not accepted: {token!r}")
        if not glob_allowed and _GLOB_CHARS.intersection(token):
            raise RefusedError("glob", f"glob or brace characters are not accepted here: {token!r}")
