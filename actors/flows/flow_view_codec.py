"""A wire-compatible *view* of GetFlowsResponse: only what aggregation reads, sub-messages as bytes.

Owns the fast path's use of the view schema. Hubble's ``GetFlowsResponse`` is parsed with the
classes generated from ``proto/kestrel/flowview/v1/flow_view.proto`` (package
``kestrel.flowview.v1``): the same field numbers, but the endpoints, the destination
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
Raises nothing.
"""

from __future__ import annotations

from typing import Any

from messages.wire.kestrel.flowview.v1 import flow_view_pb2

__all__ = ["BatchView", "FlowView", "ResponseView", "frame_batch"]

ResponseView: Any = flow_view_pb2.Response
FlowView: Any = flow_view_pb2.Flow
BatchView: Any = flow_view_pb2.Batch


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
