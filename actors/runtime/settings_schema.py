"""Typed settings schemas for topology components, and the checker that applies them.

A ``ComponentType`` names an actor type (``lower_snake_case``), the importable path of its actor
class and a tuple of ``Setting`` fields, each with kind, default, range and a one-line doc.
Domain packages declare their types in ``actors/<domain>/settings.py`` as ``COMPONENT_TYPES``
and ``actors.runtime.registry`` collects them; nothing here imports thespian or opens files.

``check_mapping`` never raises on bad input: it appends one ``"<key path>: <message>"`` string
per problem (unknown keys with a "did you mean" hint, wrong types, out-of-range values, bad
durations) and returns the normalized values with defaults merged, so a caller can report every
problem of a whole file at once. Durations normalize to float seconds.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["COMMON_SETTINGS", "ComponentType", "Kind", "Setting", "check_mapping",
           "describe_value", "did_you_mean", "format_duration", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Kind(enum.Enum):
    """What a setting's value must be."""

    INT = "integer"
    FLOAT = "number"
    BOOL = "boolean"
    STR = "string"
    DURATION = "duration"       # "200ms", "30s", "5m", "1h" or a number of seconds
    ENUM = "enum"               # one of ``choices``
    STR_LIST = "string list"
    MAPPING = "mapping"         # nested ``fields``
    ANY = "any"                 # free-form plain data, checked by ``ComponentType.check``


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One key of a component's settings: kind, default, bounds and what it means."""

    name: str
    kind: Kind
    default: Any = None
    doc: str = ""
    minimum: float | None = None       # inclusive unless ``exclusive_minimum``
    maximum: float | None = None       # inclusive
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()      # ENUM only
    fields: tuple[Setting, ...] = ()   # MAPPING only

    def default_value(self) -> Any:
        """The normalized default (nested defaults for a mapping; a fresh copy for lists)."""
        if self.kind is Kind.MAPPING:
            return {field.name: field.default_value() for field in self.fields}
        if isinstance(self.default, list | tuple):
            return list(self.default)
        return self.default


ProblemPairs = Iterable[tuple[str, str]]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ComponentType:
    """A registered component type: actor class path, settings schema and optional extra check.

    ``check`` receives the normalized settings of one component (only when every field passed)
    and yields ``(relative key path, message)`` pairs for cross-field problems.
    """

    name: str
    actor_class: str
    settings: tuple[Setting, ...]
    doc: str
    supervisor: bool = False
    check: Callable[[Mapping[str, Any]], ProblemPairs] | None = None

    def defaults(self) -> dict[str, Any]:
        return {field.name: field.default_value() for field in self.settings}


COMMON_SETTINGS: tuple[Setting, ...] = (
    Setting(name="restart", kind=Kind.ENUM, default="permanent",
            choices=("permanent", "transient", "temporary"),
            doc="when the supervisor restarts this component (Erlang/OTP child restart type)"),
    Setting(name="shutdown_timeout", kind=Kind.DURATION, default=5.0, minimum=0,
            exclusive_minimum=True, doc="graceful stop budget before the process is killed"),
    Setting(name="enabled", kind=Kind.BOOL, default=True,
            doc="false removes the component, its subtree and its links from the topology"),
)


def parse_duration(value: object) -> float | None:
    """Seconds for ``"200ms"``, ``"30s"``, ``"5m"``, ``"1h"`` or a number; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return None


def format_duration(seconds: float) -> str:
    """The shortest exact spelling ``parse_duration`` reads back (``0.2`` → ``"200ms"``)."""
    for unit in ("h", "m", "s"):
        count = seconds / _UNIT_SECONDS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    millis = seconds * 1000
    if millis == int(millis):
        return f"{int(millis)}ms"
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def describe_value(value: object) -> str:
    """A short description of a bad value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``word`` if one is close enough to suggest."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_key_message(key: str, known: Sequence[str]) -> str:
    suggestion = did_you_mean(key, known)
    if suggestion is not None:
        return f"unknown key (did you mean '{suggestion}'?)"
    return "unknown key (known keys: " + ", ".join(sorted(known)) + ")" if known \
        else "unknown key (this component takes no settings)"


def check_mapping(fields: Sequence[Setting], raw: object, path: str,
                  problems: list[str]) -> dict[str, Any]:
    """Validate ``raw`` against ``fields``; append problems; return normalized values.

    ``None`` (a key with no value, as in ``cloud_uplink:``) counts as an empty mapping.
    """
    normalized = {field.name: field.default_value() for field in fields}
    if raw is None:
        return normalized
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: must be a mapping (got {describe_value(raw)})")
        return normalized
    by_name = {field.name: field for field in fields}
    for key, value in raw.items():
        key_path = f"{path}.{key}"
        field = by_name.get(key) if isinstance(key, str) else None
        if field is None:
            problems.append(f"{key_path}: {unknown_key_message(str(key), list(by_name))}")
            continue
        checked = check_value(field, value, key_path, problems)
        if checked is not None:
            normalized[key] = checked
    return normalized


def check_value(field: Setting, value: object, path: str, problems: list[str]) -> Any:
    """One value against its field; None (and a problem appended) when it does not fit."""
    if field.kind is Kind.MAPPING:
        before = len(problems)
        nested = check_mapping(field.fields, value, path, problems)
        return nested if len(problems) == before else None
    converted, expected = _convert(field, value)
    if converted is None:
        problems.append(f"{path}: must be {expected} (got {describe_value(value)})")
        return None
    if isinstance(converted, int | float) and not isinstance(converted, bool):
        bound_problem = _bound_problem(field, converted)
        if bound_problem:
            problems.append(f"{path}: {bound_problem}")
            return None
    return converted


def _convert(field: Setting, value: object) -> tuple[Any, str]:
    kind = field.kind
    if kind is Kind.INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return (value if ok else None), "an integer"
    if kind is Kind.FLOAT:
        ok = isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value)
        return (float(value) if ok else None), "a number"  # type: ignore[arg-type]
    if kind is Kind.BOOL:
        return (value if isinstance(value, bool) else None), "true or false"
    if kind is Kind.STR:
        return (value if isinstance(value, str) and value else None), "a non-empty string"
    if kind is Kind.DURATION:
        return parse_duration(value), "a duration such as 200ms, 30s, 5m, 1h or seconds"
    if kind is Kind.ENUM:
        ok = isinstance(value, str) and value in field.choices
        return (value if ok else None), "one of " + ", ".join(field.choices)
    if kind is Kind.STR_LIST:
        if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
            return list(value), "a list of non-empty strings"
        return None, "a list of non-empty strings"
    return value, "plain data"


def _bound_problem(field: Setting, number: float) -> str | None:
    if field.minimum is not None:
        if field.exclusive_minimum and number <= field.minimum:
            return f"must be > {_number(field.minimum)}"
        if not field.exclusive_minimum and number < field.minimum:
            return f"must be ≥ {_number(field.minimum)}"
    if field.maximum is not None and number > field.maximum:
        return f"must be ≤ {_number(field.maximum)}"
    return None


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)
