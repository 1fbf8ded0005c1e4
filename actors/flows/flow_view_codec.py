"""A wire-compatible *view* of GetFlowsResponse: only what aggregation reads, sub-messages as bytes.

Owns the fast path's schema. Hubble's ``GetFlowsResponse`` is parsed with message classes built
here at import time (package ``kestrel.flowview``, its own descriptor pool, so the names never
clash with ``messages.wire``): the same field numbers, but the endpoints, the destination
service, the policies and the non-flow events are declared ``bytes``, and so are the IP
addresses and the event type. upb then copies those sub-messages as byte strings instead of
building wrappers, and the decoder can use them as keys of bounded caches (an endpoint's bytes
repeat for every flow of the same pod, an address pair for every flow between two pods).
``Layer4`` declares only ``destination_port``: the source port is never even parsed (it stays an
unknown field). Field numbers are those of ``proto/flow/flow.proto``,
``proto/observer/observer.proto`` and ``proto/relay/relay.proto``;
``unit_tests/flows/test_flow_view_codec.py`` checks the view against the full generated classes.
``frame_batch`` frames many serialized responses as one ``BatchView`` (``repeated Response
responses = 1``: each response's bytes behind its field head), so a whole batch costs one parse.
Raises nothing after import; a schema mistake fails the import (and the tests), never a flow.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["BatchView", "FlowView", "ResponseView", "frame_batch"]

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_PACKAGE = "kestrel.flowview"

# message name -> [(field name, number, type, message type or "", repeated, oneof index or -1)]
_SCHEMA: dict[str, list[tuple[str, int, int, str, bool, int]]] = {
    "Time": [("seconds", 1, _F.TYPE_INT64, "", False, -1),
             ("nanos", 2, _F.TYPE_INT32, "", False, -1)],
    "BoolValue": [("value", 1, _F.TYPE_BOOL, "", False, -1)],
    "Ports": [("destination_port", 2, _F.TYPE_UINT32, "", False, -1)],  # no source_port (1)
    "Layer4": [("TCP", 1, _F.TYPE_MESSAGE, "Ports", False, 0),
               ("UDP", 2, _F.TYPE_MESSAGE, "Ports", False, 0),
               ("ICMPv4", 3, _F.TYPE_BYTES, "", False, 0),
               ("ICMPv6", 4, _F.TYPE_BYTES, "", False, 0),
               ("SCTP", 5, _F.TYPE_MESSAGE, "Ports", False, 0),
               ("VRRP", 6, _F.TYPE_BYTES, "", False, 0),
               ("IGMP", 7, _F.TYPE_BYTES, "", False, 0)],
    "Flow": [("time", 1, _F.TYPE_MESSAGE, "Time", False, -1),
             ("verdict", 2, _F.TYPE_INT32, "", False, -1),
             ("drop_reason", 3, _F.TYPE_UINT32, "", False, -1),
             ("IP", 5, _F.TYPE_BYTES, "", False, -1),
             ("l4", 6, _F.TYPE_MESSAGE, "Layer4", False, -1),
             ("source", 8, _F.TYPE_BYTES, "", False, -1),
             ("destination", 9, _F.TYPE_BYTES, "", False, -1),
             ("node_name", 11, _F.TYPE_STRING, "", False, -1),
             ("event_type", 19, _F.TYPE_BYTES, "", False, -1),
             ("destination_service", 21, _F.TYPE_BYTES, "", False, -1),
             ("traffic_direction", 22, _F.TYPE_INT32, "", False, -1),
             ("drop_reason_desc", 25, _F.TYPE_INT32, "", False, -1),
             ("is_reply", 26, _F.TYPE_MESSAGE, "BoolValue", False, -1),
             ("egress_allowed_by", 21001, _F.TYPE_BYTES, "", True, -1),
             ("ingress_allowed_by", 21002, _F.TYPE_BYTES, "", True, -1),
             ("egress_denied_by", 21004, _F.TYPE_BYTES, "", True, -1),
             ("ingress_denied_by", 21005, _F.TYPE_BYTES, "", True, -1)],
    "Response": [("flow", 1, _F.TYPE_MESSAGE, "Flow", False, 0),
                 ("node_status", 2, _F.TYPE_BYTES, "", False, 0),
                 ("lost_events", 3, _F.TYPE_BYTES, "", False, 0)],
    # not a Hubble message: many serialized responses framed as one (see ``frame_batch``)
    "Batch": [("responses", 1, _F.TYPE_MESSAGE, "Response", True, -1)],
}
_ONEOFS = {"Layer4": "protocol", "Response": "response_types"}


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="kestrel/flowview.proto", package=_PACKAGE,
                                              syntax="proto3")
    for message_name, fields in _SCHEMA.items():
        message = file.message_type.add(name=message_name)
        if message_name in _ONEOFS:
            message.oneof_decl.add(name=_ONEOFS[message_name])
        for name, number, kind, type_name, repeated, oneof in fields:
            field = message.field.add(name=name, number=number, type=kind,
                                      label=_REPEATED if repeated else _OPTIONAL)
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"
            if oneof >= 0:
                field.oneof_index = oneof
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
ResponseView: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{_PACKAGE}.Response"))
FlowView: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.Flow"))
BatchView: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.Batch"))


def _field_head(length: int) -> bytes:
    """Tag of ``Batch.responses`` (1, length-delimited) and the varint ``length``."""
    head = bytearray(b"\x0a")
    while length > 0x7F:
        head.append(length & 0x7F | 0x80)
        length >>= 7
    head.append(length)
    return bytes(head)


_HEADS = [_field_head(length) for length in range(1 << 14)]   # every 1- and 2-byte length


def frame_batch(raws: list[bytes]) -> bytes:
    """``raws`` (serialized responses) as one serialized ``BatchView``: each prefixed by its
    field head, so one parse yields them all as ``responses`` in order."""
    try:
        heads = list(map(_HEADS.__getitem__, map(len, raws)))
    except IndexError:  # a response of 16 KiB or more
        heads = [_field_head(len(raw)) for raw in raws]
    parts = [b""] * (2 * len(raws))
    parts[::2] = heads
    parts[1::2] = raws
    return b"".join(parts)
