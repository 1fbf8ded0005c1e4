"""Structured logging for the main process and for thespian's logger process, from one place.

Two formats, chosen by the topology's ``operator.logging.format`` (or ``KESTREL_LOG_FORMAT``):

- ``text``: ``2026-01-01T12:00:00.123Z INFO    actors.runtime.lifecycle [actor addr]: message``;
- ``json``: one JSON object per line with ``time``, ``level``, ``logger``, ``message``, ``pid``
  and, when present, ``actor`` (thespian's ``actorAddress``) and ``exception``.

``configure_main_logging`` installs the handler on the main process's root logger (replacing
the one it installed before, so calling it twice is harmless). Inside actors ``addHandler``
raises (thespian forwards records to its logger process), so ``thespian_log_defs`` builds the
``logDefs`` dictConfig dict that process applies, naming these same formatter classes by import
path. Logging calls everywhere use %-style arguments. A record whose message cannot be formatted
is handled by ``logging`` itself (``Handler.handleError``), never raised into the caller.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any, TextIO

__all__ = ["JsonLinesFormatter", "TextFormatter", "configure_main_logging", "thespian_log_defs"]

LOG_FORMATS = ("text", "json")
_INSTALLED_MARK = "_kestrel_handler"


def _utc_timestamp(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    if record.exc_info:
        return formatter.formatException(record.exc_info)
    return record.exc_text or None  # thespian pre-formats exc_info before forwarding a record


class TextFormatter(logging.Formatter):
    """One readable line per record; UTC ISO timestamps; the actor address when known."""

    def format(self, record: logging.LogRecord) -> str:
        actor = getattr(record, "actorAddress", None)
        line = "%s %-7s %s%s: %s" % (  # noqa: UP031 (house style: %-formatting)
            _utc_timestamp(record.created), record.levelname, record.name,
            f" [{actor}]" if actor is not None else "", record.getMessage())
        exception = _exception_text(self, record)
        if exception:
            line = f"{line}\n{exception}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line (newlines inside values are escaped by JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        actor = getattr(record, "actorAddress", None)
        if actor is not None:
            document["actor"] = str(actor)
        exception = _exception_text(self, record)
        if exception:
            document["exception"] = exception
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def _formatter_class(log_format: str) -> type[logging.Formatter]:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, "
                         f"got {log_format!r}")
    return JsonLinesFormatter if log_format == "json" else TextFormatter


def configure_main_logging(log_format: str = "text", level: str = "INFO",
                           stream: TextIO | None = None) -> logging.Handler:
    """Route the main process's logs to ``stream`` (stderr) in ``log_format`` at ``level``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter_class(log_format)())
    setattr(handler, _INSTALLED_MARK, True)
    root = logging.getLogger()
    for previous in [h for h in root.handlers if getattr(h, _INSTALLED_MARK, False)]:
        root.removeHandler(previous)
        previous.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def thespian_log_defs(log_format: str = "text", level: str = "INFO") -> dict[str, Any]:
    """The ``logDefs`` for ``ActorSystem(...)``: same formatter, stderr, root at ``level``.

    Thespian filters records below the lowest level named here inside each actor, before
    shipping them to the logger process, so ``level`` also bounds the forwarding cost.
    """
    formatter = _formatter_class(log_format)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "kestrel": {"()": f"{formatter.__module__}.{formatter.__qualname__}"},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                       "formatter": "kestrel", "level": level},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }
