"""Regex argument patterns for extra allowlisted programs (the Helm chart's ``args`` form).

The chart lets an operator add ``{program: jq, args: ["^\\.[a-z.]*$"]}``. Such a program gets
a plain ``ProgramRule`` (so ``shell_policy`` still applies every generic check: no shell
metacharacters, paths, globs, unknown flags) and, in addition, every argument after the program
name must fully match one of its patterns. This check only narrows what the policy allows;
it never widens it. ``compile_patterns`` validates patterns (bounded count and length, must
compile); ``ArgPatterns.refusal`` returns a reason or ``None``. Never raises on bad input.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping

__all__ = ["MAX_PATTERNS", "MAX_PATTERN_CHARS", "ArgPatterns", "compile_patterns"]

MAX_PATTERNS = 32
MAX_PATTERN_CHARS = 256


def compile_patterns(raw: object) -> tuple[tuple[re.Pattern[str], ...], str]:
    """Compiled patterns, or ``((), problem)`` when the list is unusable."""
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        return (), "must be a list of regular expressions"
    items = list(raw)
    if not items or len(items) > MAX_PATTERNS:
        return (), f"must hold 1..{MAX_PATTERNS} regular expressions"
    compiled = []
    for item in items:
        if not isinstance(item, str) or not item or len(item) > MAX_PATTERN_CHARS:
            return (), f"each pattern must be a string of 1..{MAX_PATTERN_CHARS} characters"
        try:
            compiled.append(re.compile(item))
        except re.error as exc:
            return (), f"pattern {item[:60]!r} does not compile: {exc}"
    return tuple(compiled), ""


class ArgPatterns:
    """Per-program argument patterns; programs without patterns are not checked here."""

    def __init__(self, patterns: Mapping[str, tuple[re.Pattern[str], ...]]) -> None:
        self._patterns = dict(patterns)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def programs(self) -> list[str]:
        return sorted(self._patterns)

    def refusal(self, command: str) -> str | None:
        """Why ``command`` breaks its program's patterns, or None (also when unparseable:
        the shell policy refuses those with its own reason)."""
        if not self._patterns:
            return None
        try:
            lexer = shlex.shlex(command, posix=True)
            lexer.whitespace_split = True
            lexer.commenters = ""
            argv = list(lexer)
        except ValueError:
            return None
        if not argv or argv[0] not in self._patterns:
            return None
        patterns = self._patterns[argv[0]]
        for token in argv[1:]:
            if not any(pattern.fullmatch(token) for pattern in patterns):
                return f"argument {token[:80]!r} matches none of the allowed patterns of " \
                       f"{argv[0]}"
        return None
