"""Removes Secret values and noisy metadata from every response shape before it leaves the pod.

Works on parsed objects (``redact_object``), on Kubernetes API bodies (``redact_api_text``) and
on shell output (``redact_command_output``): a single Secret, SecretList / v1 List with mixed
kinds, watch events ``{"type", "object"}``, JSON lines and concatenated JSON documents, and
multi-document YAML. Secret ``data`` and ``stringData`` keep their keys, every value becomes
``<redacted>``. ``metadata.managedFields`` and the ``kubectl.kubernetes.io/last-applied-
configuration`` annotation (which can hold a whole Secret) are stripped everywhere. Text that
cannot be parsed (for example output cut by a size cap) is redacted conservatively by regex:
every ``data:``/``stringData:`` block and every last-applied annotation, whatever the kind.
Never raises on bad input; the result says how many values were redacted.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import yaml

__all__ = ["REDACTED", "RedactedText", "redact_api_text", "redact_command_output",
           "redact_object"]

REDACTED = "<redacted>"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_SECRET_TYPES = ("Opaque", "kubernetes.io/", "bootstrap.kubernetes.io/", "helm.sh/release")
_TRIGGERS = ("Secret", "data", LAST_APPLIED, "managedFields")
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclasses.dataclass(frozen=True, slots=True)
class RedactedText:
    """Text after redaction, how many values were replaced, and a note for the answer."""

    text: str
    redacted: int
    note: str = ""


def redact_object(value: Any, *, secret_hint: bool = False) -> int:
    """Redact ``value`` (parsed JSON/YAML) in place; returns the number of values replaced."""
    count = 0
    if isinstance(value, list):
        for item in value:
            count += redact_object(item, secret_hint=secret_hint)
        return count
    if not isinstance(value, dict):
        return 0
    _strip_metadata(value)
    kind = value.get("kind")
    if kind == "Secret" or (secret_hint and kind is None) or _looks_like_secret(value):
        for field in ("data", "stringData"):
            block = value.get(field)
            if isinstance(block, dict):
                for key in block:
                    block[key] = REDACTED
                    count += 1
            elif block is not None:
                value[field] = REDACTED
                count += 1
    items_hint = kind == "SecretList" or (secret_hint and kind in (None, "List"))
    for key, child in value.items():
        if isinstance(child, (dict, list)):
            count += redact_object(child, secret_hint=items_hint and key == "items")
    return count


def _looks_like_secret(value: dict[str, Any]) -> bool:
    kind_missing = "kind" not in value
    secret_type = value.get("type")
    return kind_missing and isinstance(value.get("metadata"), dict) and \
        isinstance(secret_type, str) and secret_type.startswith(_SECRET_TYPES) and \
        ("data" in value or "stringData" in value)


def _strip_metadata(value: dict[str, Any]) -> None:
    metadata = value.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)


def redact_api_text(text: str, *, secret_hint: bool = False) -> RedactedText:
    """A JSON API body (object, list, or watch event lines), re-serialised compactly."""
    documents = _parse_json_stream(text)
    if documents is None:
        return _regex_fallback(text)
    count = sum(redact_object(doc, secret_hint=secret_hint) for doc in documents)
    body = "\n".join(json.dumps(doc, separators=(",", ":")) for doc in documents)
    return RedactedText(body, count, _note(count))


def redact_command_output(text: str, *, truncated: bool = False) -> RedactedText:
    """kubectl/curl output: JSON, JSON stream or YAML is parsed; tables and logs pass through.

    ``truncated`` output (cut by a size cap) may still parse while its last object has lost
    the ``kind`` that marks it a Secret, so it always takes the conservative regex path.
    """
    if not any(trigger in text for trigger in _TRIGGERS):
        return RedactedText(text, 0)
    if truncated:
        return _regex_fallback(text)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        documents = _parse_json_stream(text)
        if documents is not None:
            count = sum(redact_object(doc) for doc in documents)
            body = "\n".join(json.dumps(doc, indent=4) for doc in documents) + "\n"
            return RedactedText(body, count, _note(count))
        return _regex_fallback(text)
    documents = _parse_yaml(text)
    if documents is not None:
        count = sum(redact_object(doc) for doc in documents)
        if count or LAST_APPLIED in text or "managedFields" in text:
            body = yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False,
                                 default_flow_style=False)
            return RedactedText(body, count, _note(count))
        return RedactedText(text, 0)
    return _regex_fallback(text)


def _parse_json_stream(text: str) -> list[Any] | None:
    decoder = json.JSONDecoder()
    documents: list[Any] = []
    index, end = 0, len(text)
    while True:
        while index < end and text[index] in " \t\r\n":
            index += 1
        if index >= end:
            return documents or None
        try:
            document, index = decoder.raw_decode(text, index)
        except ValueError:
            return None
        documents.append(document)


def _parse_yaml(text: str) -> list[Any] | None:
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError:
        return None
    if not any(isinstance(doc, (dict, list)) for doc in documents):
        return None
    return documents


_YAML_BLOCK = re.compile(r"^(?P<indent>[ \t-]*)(?P<key>data|stringData):[ \t]*(?P<rest>.*)$")
_YAML_LAST_APPLIED = re.compile(r"^(?P<indent>\s*)" + re.escape(LAST_APPLIED) + r":")
_JSON_BLOCK = re.compile(r'"(data|stringData)"\s*:\s*(\{[^{}]*(\}|$)|"[^"]*"?)')
_JSON_PAIR = re.compile(r'("(?:[^"\\]|\\.)*"\s*:\s*)"(?:[^"\\]|\\.)*("|$)')
_JSON_LAST_APPLIED = re.compile(r'("' + re.escape(LAST_APPLIED) + r'"\s*:\s*)"(?:[^"\\]|\\.)*("|$)')


def _regex_fallback(text: str) -> RedactedText:
    """Conservative line/regex redaction for output that does not parse (e.g. truncated)."""
    count = 0

    def json_block(match: re.Match[str]) -> str:
        nonlocal count
        inner, hits = _JSON_PAIR.subn(lambda m: m.group(1) + f'"{REDACTED}"', match.group(2))
        count += max(hits, 1)
        return f'"{match.group(1)}": ' + (inner if inner.startswith("{") else f'"{REDACTED}"')

    text = _JSON_LAST_APPLIED.sub(lambda m: m.group(1) + '"<removed>"', text)
    text = _JSON_BLOCK.sub(json_block, text)
    lines: list[str] = []
    block_indent: int | None = None
    skip_indent: int | None = None
    for line in text.split("\n"):
        width = len(line) - len(line.lstrip(" \t-"))
        if skip_indent is not None and (not line.strip() or width > skip_indent):
            continue
        skip_indent = None
        if block_indent is not None and line.strip() and width > block_indent:
            if ":" in line:
                lines.append(f"{line.split(':', 1)[0]}: {REDACTED}")
            else:
                lines.append(" " * width + REDACTED)
            count += 1
            continue
        block_indent = None
        applied = _YAML_LAST_APPLIED.match(line)
        if applied:
            skip_indent = len(applied.group("indent"))
            continue
        match = _YAML_BLOCK.match(line)
        if match and match.group("rest").strip() not in ("", "{}"):
            lines.append(f"{match.group('indent')}{match.group('key')}: {REDACTED}")
            count += 1
            if match.group("rest").strip().startswith(("|", ">")):
                skip_indent = width
            continue
        if match:
            block_indent = len(match.group("indent"))
        lines.append(line)
    return RedactedText("\n".join(lines), count,
                        "output could not be parsed; data blocks were redacted conservatively"
                        if count else "")


def _note(count: int) -> str:
    return f"{count} Secret value(s) redacted" if count else ""
