"""Decoding the one protobuf body kubectl sends: a ``SelfSubjectAccessReview``.

``kubectl auth can-i`` posts its review as ``application/vnd.kubernetes.protobuf`` (the
``k8s\\x00`` magic + a ``runtime.Unknown`` envelope), with no JSON fallback. This module owns a
minimal wire-format reader for exactly that message (field numbers from
``k8s.io/api/authorization/v1/generated.proto``) and returns the JSON-shaped dict the write path
uses. Anything malformed raises ``ValueError``, which the caller reports as a 400 Status.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"
RESOURCE_ATTRIBUTE_FIELDS = {1: "namespace", 2: "verb", 3: "group", 4: "version",
                             5: "resource", 6: "subresource", 7: "name"}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(data: bytes) -> dict[int, list[bytes | int]]:
    """Top-level fields of one message: number -> values (bytes or ints)."""
    out: dict[int, list[bytes | int]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        value: bytes | int
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated length-delimited field")
            value, pos = data[pos:pos + length], pos + length
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        out.setdefault(number, []).append(value)
    return out


def _message(values: list[bytes | int] | None) -> bytes:
    if not values:
        return b""
    value = values[-1]
    if not isinstance(value, bytes):
        raise ValueError("expected an embedded message")
    return value


def decode_self_subject_access_review(body: bytes) -> dict[str, Any]:
    if not body.startswith(MAGIC):
        raise ValueError("missing k8s protobuf magic")
    envelope = fields(body[len(MAGIC):])
    review = fields(_message(envelope.get(2)))
    spec = fields(_message(review.get(2)))
    attributes = fields(_message(spec.get(1)))
    resource_attributes = {
        name: _message(attributes.get(number)).decode()
        for number, name in RESOURCE_ATTRIBUTE_FIELDS.items() if number in attributes}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": resource_attributes}}
