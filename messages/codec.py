"""msgpack codec for messages and batch payloads.

Owns the byte format that carries typed messages inside batches, on disk (the uplink spool) and
between processes where pickle would be too slow or unsafe. A message is encoded as a msgpack
extension holding its class name and field values; tuples, bytes, frozensets and enums survive
the round trip. Decoding never executes code: only registered message classes and enums can be
built, and anything else raises ``CodecError`` with the reason.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from typing import Any

import msgpack

import messages

__all__ = ["CodecError", "decode", "encode", "pack_records", "unpack_records"]

_EXT_MESSAGE = 1
_EXT_FROZENSET = 2
_EXT_ENUM = 3


class CodecError(ValueError):
    """The bytes are not a valid encoding of a registered message."""


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [getattr(value, f.name) for f in dataclasses.fields(value)]
        body = msgpack.packb([type(value).__name__, *fields], default=_default, use_bin_type=True)
        return msgpack.ExtType(_EXT_MESSAGE, body)
    if isinstance(value, frozenset):
        body = msgpack.packb(sorted(value, key=repr), default=_default, use_bin_type=True)
        return msgpack.ExtType(_EXT_FROZENSET, body)
    if isinstance(value, enum.Enum):
        cls = type(value)
        body = msgpack.packb([f"{cls.__module__}:{cls.__qualname__}", value.value],
                             default=_default, use_bin_type=True)
        return msgpack.ExtType(_EXT_ENUM, body)
    raise CodecError(f"cannot encode {type(value).__name__}")


def _enum_class(path: str) -> type[enum.Enum]:
    module_name, _, qualname = path.partition(":")
    if not (module_name == "messages" or module_name.startswith("messages.")):
        raise CodecError(f"enum {path!r} is not a messages enum")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, enum.Enum)):
        raise CodecError(f"unknown enum {path!r}")
    return obj


def _ext_hook(code: int, data: bytes) -> Any:
    items = _unpack(data)
    if code == _EXT_MESSAGE:
        name, *values = items
        try:
            cls = messages.registered(name)
        except KeyError:
            raise CodecError(f"unknown message class {name!r}") from None
        names = [f.name for f in dataclasses.fields(cls)]
        if len(values) != len(names):
            raise CodecError(f"{name}: expected {len(names)} fields, got {len(values)}")
        return cls(**dict(zip(names, values, strict=True)))
    if code == _EXT_FROZENSET:
        return frozenset(items)
    if code == _EXT_ENUM:
        path, raw = items
        return _enum_class(path)(raw)
    raise CodecError(f"unknown extension type {code}")


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, use_list=False, raw=False,
                           strict_map_key=False)


def encode(value: Any) -> bytes:
    """Encode a message (or a structure of messages and plain values) to bytes."""
    return bytes(msgpack.packb(value, default=_default, use_bin_type=True))


def decode(data: bytes) -> Any:
    """Decode bytes made by ``encode``; raises ``CodecError`` on anything else."""
    try:
        return _unpack(data)
    except CodecError:
        raise
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError) as exc:
        raise CodecError(f"malformed payload: {exc}") from exc


def pack_records(records: list[Any] | tuple[Any, ...]) -> bytes:
    """Pack a batch of plain records (dicts, lists, scalars) without message extensions."""
    return bytes(msgpack.packb(records, use_bin_type=True))


def unpack_records(data: bytes) -> tuple[Any, ...]:
    """Unpack a batch made by ``pack_records``; raises ``CodecError`` on malformed bytes."""
    try:
        result = msgpack.unpackb(data, use_list=False, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError) as exc:
        raise CodecError(f"malformed batch: {exc}") from exc
    if not isinstance(result, tuple):
        raise CodecError("malformed batch: not an array")
    return result
