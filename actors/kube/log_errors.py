"""Read captured container logs: timestamps, levels, and errors with stack traces grouped.

``parse_log(text)`` turns raw pods/log text into entries ``{line_number, timestamp, level,
message, error}``. ``error`` is ``None`` or ``{error_type, error_message, stack_trace}``. A
Python traceback, a Java exception with its ``at``/``Caused by`` frames, or a Go ``panic:`` /
``fatal error:`` with its goroutine dump becomes ONE entry (``stack_trace`` keeps at most
``MAX_TRACE_LINES`` lines). Levels come from JSON (``level``/``severity``/``lvl``), logfmt
``level=``, klog's ``E0102`` prefix, or an upper-case level word; ``panic``/``Exception`` with no
level count as ERROR. Lines longer than ``MAX_LINE`` characters are cut. Never raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_LINE", "MAX_TRACE_LINES", "parse_log"]

MAX_LINE = 16_384
MAX_TRACE_LINES = 60

_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2}) ")
_LOGFMT = re.compile(r"(?:^|\s)(?:level|lvl|severity)=\"?([A-Za-z]+)")
_KLOG = re.compile(r"^([IWEF])\d{4} \d{2}:\d{2}:\d{2}")
_WORD = re.compile(r"\b(FATAL|CRITICAL|PANIC|ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE)\b")
_BRACKET = re.compile(r"\[(fatal|critical|error|warn|warning|info|debug)\]", re.IGNORECASE)
_JAVA_HEAD = re.compile(
    r"^(?:Exception in thread \"[^\"]*\" )?(?:Caused by: )?"
    r"((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable))(?::\s*(.*))?$")
_JAVA_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)|^Caused by: |^\s*Suppressed: ")
_PY_LAST = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)|"
                      r"[A-Za-z_][\w.]*)(?::\s?(.*))?$")
_GO_FRAME = re.compile(r"^(\t|goroutine \d+ \[|created by |\[signal |exit status \d+|"
                       r"[\w./*()\-\[\]]+\(.*\)$|\s*$)")
_LEVELS = {"fatal": "FATAL", "critical": "FATAL", "panic": "FATAL", "error": "ERROR",
           "err": "ERROR", "warning": "WARN", "warn": "WARN", "info": "INFO",
           "debug": "DEBUG", "trace": "DEBUG", "e": "ERROR", "w": "WARN", "i": "INFO",
           "f": "FATAL"}
_ERROR_TYPES = (("OutOfMemory", re.compile(r"out of memory|OutOfMemoryError|MemoryError|OOM",
                                           re.IGNORECASE)),
                ("Timeout", re.compile(r"timed? ?out|deadline exceeded", re.IGNORECASE)),
                ("Connection", re.compile(r"connection (refused|reset)|ECONNREFUSED|"
                                          r"no such host|broken pipe", re.IGNORECASE)),
                ("Permission", re.compile(r"permission denied|forbidden|EACCES",
                                          re.IGNORECASE)),
                ("NotFound", re.compile(r"no such file|not found|FileNotFound",
                                        re.IGNORECASE)),
                ("NullPointer", re.compile(r"NullPointerException|nil pointer|NoneType")))


def _level(message: str) -> str:
    if message.startswith("{"):
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            for key in ("level", "severity", "lvl"):
                value = parsed.get(key)
                if isinstance(value, str) and value.lower() in _LEVELS:
                    return _LEVELS[value.lower()]
    for pattern in (_LOGFMT, _KLOG, _BRACKET, _WORD):
        match = pattern.search(message)
        if match:
            return _LEVELS.get(match.group(1).lower(), "INFO")
    if message.startswith(("panic:", "fatal error:")) or "Exception" in message:
        return "ERROR"
    return "INFO"


def _classify(text: str, fallback: str) -> str:
    for name, pattern in _ERROR_TYPES:
        if pattern.search(text):
            return name
    return fallback


def _entry(number: int, timestamp: str, message: str, level: str,
           error: dict[str, Any] | None) -> dict[str, Any]:
    return {"line_number": number, "timestamp": timestamp, "level": level,
            "message": message, "error": error}


def _trace_end(lines: list[str], start: int) -> tuple[int, str, str, str]:
    """(end index exclusive, kind, error type, error message) of a trace starting at start."""
    head = lines[start]
    if head.startswith("Traceback (most recent call last):"):
        i = start + 1
        while i < len(lines):
            line = lines[i]
            if line.startswith((" ", "\t")) or line.startswith("Traceback (") or \
                    line.startswith(("During handling of", "The above exception")) or \
                    not line.strip():
                i += 1
                continue
            last = _PY_LAST.match(line)
            if last:
                return i + 1, "python", last.group(1), last.group(2) or ""
            break
        return i, "python", "Traceback", ""
    if head.startswith(("panic: ", "fatal error: ")):
        i = start + 1
        while i < len(lines) and _GO_FRAME.match(lines[i]):
            i += 1
        while i > start + 1 and not lines[i - 1].strip():
            i -= 1
        kind = "GoPanic" if head.startswith("panic") else "GoFatal"
        return i, "go", kind, head.split(": ", 1)[1]
    java = _JAVA_HEAD.match(head)
    if java and start + 1 < len(lines) and _JAVA_FRAME.match(lines[start + 1]):
        i = start + 1
        while i < len(lines) and _JAVA_FRAME.match(lines[i]):
            i += 1
        return i, "java", java.group(1).rsplit(".", 1)[-1], java.group(2) or ""
    return start, "", "", ""


def parse_log(text: str, *, timestamps: bool = False) -> list[dict[str, Any]]:
    stamps: list[str] = []
    lines: list[str] = []
    for raw in text.splitlines():
        stamp = ""
        if timestamps and _TS.match(raw):
            stamp, raw = raw.split(" ", 1)
        stamps.append(stamp)
        lines.append(raw[:MAX_LINE])
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        end, kind, error_type, error_message = _trace_end(lines, i) if line else (i, "", "", "")
        if end > i + 1 or kind:
            end = max(end, i + 1)
            trace = lines[i:end]
            kept = trace if len(trace) <= MAX_TRACE_LINES else \
                [*trace[:MAX_TRACE_LINES - 1], f"... {len(trace) - MAX_TRACE_LINES + 1} more"]
            message = trace[-1] if kind == "python" else trace[0]
            error = {"error_type": error_type,
                     "category": _classify(f"{error_type}: {error_message}", "Runtime"),
                     "error_message": error_message or message, "stack_trace": "\n".join(kept),
                     "language": kind}
            out.append(_entry(i + 1, stamps[i], message,
                              "FATAL" if kind == "go" else "ERROR", error))
            i = end
            continue
        level = _level(line)
        line_error: dict[str, Any] | None = None
        if level in ("ERROR", "FATAL"):
            line_error = {"error_type": "LogError", "category": _classify(line, "Runtime"),
                          "error_message": line[:1024], "stack_trace": "", "language": ""}
        out.append(_entry(i + 1, stamps[i], line, level, line_error))
        i += 1
    return out
