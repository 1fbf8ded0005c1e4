"""HTTP path → route-like template with bounded cardinality.

Owns the rule that keeps one key per route instead of one per request: the query string and
fragment are dropped, and each path segment that looks like an identifier is replaced —
UUIDs → ``{uuid}``, all-digit ids (also ``12,345``/``1.5``/``10-20``) → ``{id}``, hex runs of 16+
characters with a digit → ``{hex}``, e-mail-like segments → ``{email}``, long mixed tokens
(base64/base62 ids, 20+ characters of ``[A-Za-z0-9_-~+=]`` with 3+ digits and a letter) →
``{token}``. gRPC paths (``/pkg.Service/Method``) pass through unchanged. At most
``max_segments`` segments are kept (the rest become ``…``) and each kept segment is cut to
``max_segment_chars``. A path without a digit or ``@`` (most routes) skips the per-segment
rules. Never raises; an empty path becomes ``/``.
"""

from __future__ import annotations

import re

__all__ = ["normalize_path"]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-~+=]{20,}$")
_EMAIL = re.compile(r"^[^@/]+@[^@/]+\.[^@/]+$")
_NUMERIC = re.compile(r"^[0-9][0-9_,.:\-]*$")
_PLAIN = re.compile(r"^[^0-9@]*$")  # no digit, no @: can be none of the id shapes
_NEEDS_RULES = re.compile(r"[0-9@]")
_GRPC = re.compile(r"^/[A-Za-z_]\w*(\.[A-Za-z_]\w*)+/[A-Za-z_]\w*$")


def _segment(segment: str, max_chars: int) -> str:
    if _PLAIN.match(segment):
        return segment[:max_chars]
    if _NUMERIC.match(segment):
        return "{id}"
    if len(segment) == 36 and _UUID.match(segment):
        return "{uuid}"
    if len(segment) >= 16 and _HEX.match(segment):
        return "{hex}"  # _PLAIN failed, so it has a digit
    if "@" in segment and _EMAIL.match(segment):
        return "{email}"
    if len(segment) >= 20 and _TOKEN.match(segment) and \
            sum(c.isdigit() for c in segment) >= 3 and any(c.isalpha() for c in segment):
        return "{token}"
    return segment[:max_chars]


def normalize_path(path: str, *, max_segments: int = 8, max_segment_chars: int = 64) -> str:
    """The route template for ``path`` (see the module docstring for the rules)."""
    path = path.partition("?")[0].partition("#")[0]
    if not path:
        return "/"
    if _GRPC.match(path):
        return path[:2 * max_segment_chars]
    plain = not _NEEDS_RULES.search(path)
    if plain and path.count("/") <= max_segments and len(path) <= max_segment_chars:
        return path  # the common case: nothing to replace, nothing to cut
    segments = path.split("/")  # segments[0] is "" for absolute paths
    kept = [s[:max_segment_chars] if plain else _segment(s, max_segment_chars)
            for s in segments[:max_segments + 1]]
    if len(segments) > max_segments + 1:
        kept.append("…")
    return "/".join(kept) or "/"
