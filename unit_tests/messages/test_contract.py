"""Every message class: unique name, frozen, slotted, keyword-only, pickle and codec round trips."""

import dataclasses
import enum
import pickle
import types
import typing

import pytest

import messages
from messages import codec

CLASSES = messages.all_message_classes()


def _sample(tp: typing.Any, depth: int = 0) -> typing.Any:
    origin = typing.get_origin(tp)
    if tp is int:
        return 7
    if tp is float:
        return 1.5
    if tp is str:
        return "x"
    if tp is bool:
        return True
    if tp is bytes:
        return b"\x00\x01"
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return (_sample(args[0], depth + 1),) if depth < 2 else ()
        return tuple(_sample(a, depth + 1) for a in args)
    if origin is frozenset:
        return frozenset({_sample(typing.get_args(tp)[0], depth + 1)})
    if origin in (typing.Union, types.UnionType):
        return _sample(next(a for a in typing.get_args(tp) if a is not type(None)), depth)
    if isinstance(tp, enum.EnumMeta):
        return next(iter(tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _instance(tp, depth + 1)
    return "opaque"


def _instance(cls: type, depth: int = 0) -> typing.Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _sample(hints[f.name], depth) for f in dataclasses.fields(cls)})


def test_there_are_messages():
    assert len(CLASSES) >= 10


def test_names_are_unique_across_the_project():
    names = [cls.__name__ for cls in CLASSES]
    assert sorted(names) == sorted(set(names))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_frozen_slotted_keyword_only(cls):
    params = cls.__dataclass_params__
    assert params.frozen
    assert "__slots__" in cls.__dict__
    assert all(f.kw_only for f in dataclasses.fields(cls))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_pickle_round_trip(cls):
    msg = _instance(cls)
    assert pickle.loads(pickle.dumps(msg)) == msg


@pytest.mark.parametrize("cls", [c for c in CLASSES if getattr(c, "CODEC", True)],
                         ids=lambda c: c.__name__)
def test_codec_round_trip(cls):
    msg = _instance(cls)
    assert codec.decode(codec.encode(msg)) == msg


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_str_is_cheap_and_bounded(cls):
    assert len(str(_instance(cls))) < 2000


def test_codec_rejects_garbage_with_a_clear_error():
    with pytest.raises(codec.CodecError):
        codec.decode(b"\xc1\xc1\xc1")
    with pytest.raises(codec.CodecError, match="unknown message class"):
        codec.decode(codec.encode(msgpack_ext_of_unknown()))


def msgpack_ext_of_unknown():
    import msgpack
    return msgpack.ExtType(1, msgpack.packb(["NoSuchMessage", 1]))
