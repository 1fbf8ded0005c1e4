"""Text and JSON-lines formatters, main-process setup and thespian logDefs."""

import importlib
import io
import json
import logging
import logging.config
import sys

import pytest
from thespian.system.multiprocCommon import get_min_log_level  # type: ignore[import-untyped]

from actors.runtime.logging_setup import (
    JsonLinesFormatter,
    TextFormatter,
    configure_main_logging,
    thespian_log_defs,
)


def record(message="hello %s", args=("world",), **extra):
    made = logging.LogRecord("kestrel.test", logging.WARNING, __file__, 10, message, args, None)
    made.created = 1767268800.5   # 2026-01-01T12:00:00.500Z
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_text_line_with_and_without_actor():
    assert TextFormatter().format(record()) == (
        "2026-01-01T12:00:00.500Z WARNING kestrel.test: hello world")
    assert TextFormatter().format(record(actorAddress="ActorAddr-(T|:1234)")) == (
        "2026-01-01T12:00:00.500Z WARNING kestrel.test [ActorAddr-(T|:1234)]: hello world")


def test_json_line_fields_and_forwarded_exception_text():
    line = JsonLinesFormatter().format(record(message='a "quoted"\nline %d', args=(3,),
                                              actorAddress="A1", exc_text="Traceback: boom"))
    assert "\n" not in line
    document = json.loads(line)
    assert document == {"time": "2026-01-01T12:00:00.500Z", "level": "WARNING",
                        "logger": "kestrel.test", "message": 'a "quoted"\nline 3',
                        "pid": document["pid"], "actor": "A1", "exception": "Traceback: boom"}


def test_json_formats_live_exceptions():
    try:
        raise ValueError("bad")
    except ValueError:
        made = record()
        made.exc_info = sys.exc_info()
    assert "ValueError: bad" in json.loads(JsonLinesFormatter().format(made))["exception"]


def test_configure_main_logging_replaces_its_own_handler():
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    stream = io.StringIO()
    try:
        configure_main_logging("text", "INFO", stream=io.StringIO())
        handler = configure_main_logging("json", "DEBUG", stream=stream)
        assert [h for h in root.handlers if h not in before] == [handler]
        logging.getLogger("kestrel.test").debug("count %d", 5)
        assert json.loads(stream.getvalue())["message"] == "count 5"
    finally:
        for extra in [h for h in root.handlers if h not in before]:
            root.removeHandler(extra)
        root.setLevel(level)
    with pytest.raises(ValueError, match="log format"):
        configure_main_logging("xml")


@pytest.mark.parametrize(("log_format", "cls"), [("text", TextFormatter),
                                                  ("json", JsonLinesFormatter)])
@pytest.mark.parametrize("level", ["DEBUG", "WARNING"])
def test_thespian_log_defs(log_format, cls, level):
    defs = thespian_log_defs(log_format, level)
    assert get_min_log_level(defs) == logging.getLevelName(level)
    factory_path = defs["formatters"]["kestrel"]["()"]
    module_name, _, class_name = factory_path.rpartition(".")
    assert getattr(importlib.import_module(module_name), class_name) is cls
    # the dict is a valid dictConfig (checked without touching this process's logging)
    configurator = logging.config.DictConfigurator(defs)
    formatter = configurator.configure_formatter(dict(defs["formatters"]["kestrel"]))
    assert isinstance(formatter, cls)
