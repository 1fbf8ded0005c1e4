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

``PathNormalizer`` is the hot-path form with the same results (a unit test compares them on
random paths): bounded memos of whole paths without identifiers, of id-free prefixes ("heads")
and of segments that are no identifier. A path with a fresh id costs a head lookup and the rules
on that one segment (an id in the last or the one-but-last segment takes a short path; anything
else walks right to left to the longest known head); ids are never memoized (they do not
recur). Each memo is reset when it reaches ``max_cached`` entries.
"""

from __future__ import annotations

import re

__all__ = ["PathNormalizer", "normalize_path"]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-~+=]{20,}$")
_EMAIL = re.compile(r"^[^@/]+@[^@/]+\.[^@/]+$")
_NUMERIC = re.compile(r"^[0-9][0-9_,.:\-]*$")
_PLAIN = re.compile(r"^[^0-9@]*$")  # no digit, no @: can be none of the id shapes
_NEEDS_RULES = re.compile(r"[0-9@]")
_GRPC = re.compile(r"^/[A-Za-z_]\w*(\.[A-Za-z_]\w*)+/[A-Za-z_]\w*$")


# numeric, UUID, hex in the rule order: one fullmatch tries them in turn
_ID_SHAPES = re.compile(f"(?P<id>{_NUMERIC.pattern[1:-1]})|(?P<uuid>{_UUID.pattern[1:-1]})|"
                        f"(?P<hex>{_HEX.pattern[1:-1]})")
_PLACEHOLDERS = {"id": "{id}", "uuid": "{uuid}", "hex": "{hex}"}


def _segment(segment: str, max_chars: int) -> str:
    if _PLAIN.match(segment):
        return segment[:max_chars]
    shape = _ID_SHAPES.fullmatch(segment)
    if shape is not None:
        return _PLACEHOLDERS[str(shape.lastgroup)]  # (hex: _PLAIN failed, it has a digit)
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



class PathNormalizer:
    """``normalize_path`` with bounded memos (see the module docstring)."""

    def __init__(self, *, max_segments: int = 8, max_segment_chars: int = 64,
                 max_cached: int = 4096) -> None:
        self.max_segments = max_segments
        self.max_segment_chars = max_segment_chars
        self.max_cached = max_cached
        self._paths: dict[str, str] = {}        # whole raw path without identifiers → template
        self._heads: dict[str, str] = {"": ""}  # "/a/b" prefix without identifiers → template
        self._segments: dict[str, str] = {}     # segment that is no identifier → itself, cut

    def __call__(self, path: str) -> str:
        known = self._paths.get(path)
        if known is not None:
            return known
        if "?" in path or "#" in path:            # a known route with a fresh query
            stripped = path.partition("?")[0].partition("#")[0]
            known = self._heads.get(stripped)     # (a head is cut segment-wise: not gRPC)
            if known and not (stripped.count("/") == 2 and "." in stripped):
                return known
        slashes = path.count("/")
        if slashes > self.max_segments or (slashes == 2 and "." in path):
            return self._walk(path)               # (cut, or maybe gRPC: the full rules)
        # the common cases: a known id-free head, then the last segment (an id, a memoized
        # segment, either with a query), or an identifier and then such a last segment
        head, slash, last = path.rpartition("/")
        prefix = self._heads.get(head)
        middle = None
        if prefix is None and slash:
            head, slash, middle = head.rpartition("/")
            prefix = self._heads.get(head)
            if "?" in middle or "#" in middle:
                prefix = None
        if prefix is None or not slash:
            return self._walk(path)
        stripped = last
        if "?" in last or "#" in last:
            stripped = last.partition("?")[0].partition("#")[0]
        normalized = self._segments.get(stripped)
        if normalized is None:
            normalized = self._identifier(stripped)
            if normalized is None:
                return self._walk(path)           # a new plain segment: let the walk memoize
        elif middle is None:
            if stripped is last:                  # no identifier, no query: recurs as is
                self._remember(self._paths, path, prefix + "/" + normalized)
            return prefix + "/" + normalized
        if middle is None:
            return prefix + "/" + normalized
        template = None if middle in self._segments else self._identifier(middle)
        if template is None:
            return self._walk(path)               # an id-free head the walk will remember
        return prefix + "/" + template + "/" + normalized

    def _identifier(self, segment: str) -> str | None:
        """The placeholder of a segment that is an identifier, else None."""
        if segment.isdigit() and segment.isascii():
            return "{id}"                         # (what _segment says, without its regexes)
        template = _segment(segment, self.max_segment_chars)
        return None if template == segment[:self.max_segment_chars] else template

    def _walk(self, path: str) -> str:
        stripped = path
        if "?" in path or "#" in path:
            stripped = path.partition("?")[0].partition("#")[0]
        slashes = stripped.count("/")
        if slashes == 2 and "." in stripped and _GRPC.match(stripped):
            template = stripped[:2 * self.max_segment_chars]  # gRPC: as normalize_path says
            if stripped is path:                               # (a finite set of methods)
                self._remember(self._paths, path, template)
            return template
        if slashes > self.max_segments or not stripped.startswith("/"):
            return normalize_path(stripped, max_segments=self.max_segments,
                                  max_segment_chars=self.max_segment_chars)
        # no segment is dropped: the template is the join of the segments' own templates, so
        # walk from the right to the longest known id-free prefix ("head")
        heads, memo, limit = self._heads, self._segments, self.max_segment_chars
        parts: list[str] = []           # templates of the walked segments, right to left
        leftmost_id, id_head = -1, ""   # where the walk last met an identifier
        head = stripped
        prefix = heads.get(head)
        while prefix is None:
            head, _, segment = head.rpartition("/")
            normalized = memo.get(segment)
            if normalized is None:
                if segment.isdigit() and segment.isascii():
                    normalized = "{id}"          # (what _segment says, without its regexes)
                else:
                    normalized = _segment(segment, limit)
                if normalized == segment[:limit]:
                    self._remember(memo, segment, normalized)
                else:                   # an identifier: never memoized, ends a head
                    leftmost_id, id_head = len(parts), head
            parts.append(normalized)
            prefix = heads.get(head)
        if leftmost_id < 0:
            template = prefix + "/" + "/".join(reversed(parts)) if parts else prefix
            self._remember(heads, stripped, template)
            if stripped is path:
                self._remember(self._paths, path, template)
            return template
        left = parts[leftmost_id + 1:]
        if left:                        # remember the id-free head left of the identifier
            self._remember(heads, id_head, prefix + "/" + "/".join(reversed(left)))
        return prefix + "/" + "/".join(reversed(parts))

    def _remember(self, memo: dict[str, str], key: str, value: str) -> None:
        if len(memo) >= self.max_cached:
            memo.clear()
            if memo is self._heads:
                memo[""] = ""
        memo[key] = value
