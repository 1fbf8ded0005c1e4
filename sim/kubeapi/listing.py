"""LIST: resourceVersion semantics, ``limit``/``continue`` paging, selectors and Table replies.

Owns the list reply bytes. Items are spliced from each object's stored JSON, so a 5,000-pod list
costs a join rather than an encode. Follows kube-apiserver's rules: unset RV = most recent,
``0`` = any, ``Exact`` reads the snapshot at that RV (410 if compacted), ``NotOlderThan`` waits
briefly for a newer RV (504 "Too large resource version" otherwise). A continue token pins the
first page's RV; once that RV leaves the history window the token gets 410 Expired.
``remainingItemCount`` is only set when no selector is used, as upstream.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sim.kubeapi import conversion, resources, routing, selectors, status, tables
from sim.kubeapi.store import ObjectStore, StoredObject, encode

TOO_LARGE_WAIT_S = 3.0


def with_kind(item: StoredObject, kind: str, api_version: str) -> bytes:
    """The stored JSON with kind/apiVersion spliced in front (watch events, CRD list items)."""
    return b'{"kind":"%s","apiVersion":"%s",%s' % (kind.encode(), api_version.encode(),
                                                    item.body[1:])


def served_body(item: StoredObject, resource: resources.ResourceType, api_version: str,
                typed_list_item: bool = False) -> bytes:
    """The JSON a client of ``resource`` sees for ``item`` (converted if stored elsewhere).

    Items of typed (built-in) lists carry no kind/apiVersion; everything else does.
    """
    if conversion.converts(resource):
        view = conversion.to_view(resource, item.obj)
        if not typed_list_item:
            view = {"kind": resource.kind, "apiVersion": api_version, **view}
        return encode(view)
    if typed_list_item and not resource.custom:
        return item.body
    return with_kind(item, resource.kind, api_version)


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return int(data["rv"]), str(data["start"])
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise status.bad_request(f"continue key is not valid: {error}") from None


def _parse_rv(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise status.bad_request(f"invalid resource version: {raw!r}") from None
    if value < 0:
        raise status.bad_request(f"invalid resource version: {raw!r}")
    return value


def choose_read_rv(store: ObjectStore, params: dict[str, str]) -> int | None:
    """The RV to read at (None = most recent), validating RV/RVM/continue combinations."""
    raw_rv, match = params.get("resourceVersion", ""), params.get("resourceVersionMatch", "")
    if params.get("continue"):
        if raw_rv not in ("",):
            raise status.bad_request(
                "specifying resource version is not allowed when using continue")
        rv, _ = decode_continue(params["continue"])
        if rv < store.oldest_available_rv:
            raise status.expired(
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter, or use the "
                "continue token in this response to retrieve the remainder of the results. "
                "Continuing with the provided token results in an inconsistent list - objects "
                "that were created, modified, or deleted between the time the first chunk was "
                "returned and now may show up in the list.")
        return rv
    if match and match not in ("Exact", "NotOlderThan"):
        raise status.bad_request(f'resourceVersionMatch: Unsupported value: "{match}"')
    if match and not raw_rv:
        raise status.bad_request("resourceVersionMatch is forbidden unless resourceVersion "
                                 "is provided")
    if raw_rv in ("", "0"):
        if match == "Exact" and raw_rv == "0":
            raise status.bad_request("resourceVersionMatch \"exact\" is forbidden for "
                                     "resourceVersion \"0\"")
        return None
    rv = _parse_rv(raw_rv)
    legacy_exact = not match and params.get("limit")
    if match == "Exact" or legacy_exact:
        if rv > store.resource_version:
            raise _too_large(rv, store.resource_version)
        return rv
    deadline_rv = store.resource_version
    if rv > deadline_rv:
        store.wait(rv - 1, TOO_LARGE_WAIT_S)
        if rv > store.resource_version:
            raise _too_large(rv, store.resource_version)
    return None


def _too_large(rv: int, current: int) -> status.ApiError:
    return status.ApiError(
        504, f"Timeout: Too large resource version: {rv}, current: {current}",
        reason="Timeout", details={"causes": [{"reason": "ResourceVersionTooLarge",
                                               "message": "Too large resource version"}],
                                   "retryAfterSeconds": 1})


def _position(item: StoredObject) -> str:
    return f"{item.namespace}/{item.name}" if item.namespace else item.name


def select(store: ObjectStore, route: routing.Route,
           params: dict[str, str]) -> tuple[int, list[StoredObject], dict[str, Any]]:
    """The page of items to return and its ListMeta."""
    resource = route.resource
    read_rv = choose_read_rv(store, params)
    flt = selectors.build_filter(params.get("labelSelector", ""),
                                 params.get("fieldSelector", ""), resource.key)
    list_rv, items = store.snapshot(resource.storage, read_rv)
    start = decode_continue(params["continue"])[1] if params.get("continue") else ""
    if route.namespace:
        items = [i for i in items if i.namespace == route.namespace]
    if start:
        items = [i for i in items if _position(i) > start]
    if not flt.empty:
        items = [i for i in items if flt.matches(conversion.to_view(resource, i.obj))]
    try:
        limit = int(params.get("limit") or 0)
    except ValueError:
        raise status.bad_request(f"invalid limit: {params.get('limit')!r}") from None
    meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
    if 0 < limit < len(items):
        page = items[:limit]
        meta["continue"] = encode_continue(list_rv, _position(page[-1]))
        if flt.empty:
            meta["remainingItemCount"] = len(items) - limit
        items = page
    return list_rv, items, meta


def list_body(store: ObjectStore, route: routing.Route, params: dict[str, str],
              accept: str | None) -> bytes:
    _, items, meta = select(store, route, params)
    resource = route.resource
    if tables.wants_table(accept):
        return encode(tables.table([conversion.to_view(resource, i.obj) for i in items],
                                   resource, route.api_version, store.clock(), meta,
                                   params.get("includeObject", "Metadata")))
    joined = b",".join(served_body(i, resource, route.api_version, typed_list_item=True)
                       for i in items)
    head = {"kind": resource.list_kind, "apiVersion": route.api_version, "metadata": meta}
    return encode(head)[:-1] + b',"items":[' + joined + b"]}"
