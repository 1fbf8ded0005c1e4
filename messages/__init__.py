"""Typed messages exchanged by the operator's actors.

Every message is a frozen, slotted, keyword-only dataclass whose class name is unique across the
project: thespian dispatches ``receiveMsg_<ClassName>`` by the bare class name, so two classes
with one name would silently share a handler. Fields hold immutable values only (tuples, bytes,
frozensets, str, numbers, enums). Bulk data travels as compact ``bytes`` (msgpack, numpy) inside
batch wrappers whose ``__str__`` is constant-time, because thespian formats every message three
times per hop. This package imports nothing from ``actors``; ``messages.wire`` holds generated
protobuf code that only adapters import.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import TypeVar

__all__ = ["all_message_classes", "message"]


_MessageClass = TypeVar("_MessageClass", bound=type)


def message(cls: _MessageClass) -> _MessageClass:
    """Register ``cls`` as a message class (after it was made a frozen slotted dataclass)."""
    _REGISTRY.setdefault(cls.__name__, []).append(cls)
    return cls


_REGISTRY: dict[str, list[type]] = {}


def registered(name: str) -> type:
    """The message class registered under ``name`` (raises KeyError for an unknown name)."""
    all_message_classes()
    return _REGISTRY[name][0]


def all_message_classes() -> list[type]:
    """Import every module of this package (except ``wire``) and return the message classes."""
    for info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        if info.name.endswith(".wire"):
            continue
        importlib.import_module(info.name)
    return [cls for group in _REGISTRY.values() for cls in group if dataclasses.is_dataclass(cls)]
