"""Bounded, crash-safe on-disk spool of the uplink's unacknowledged reliable items.

Owns one directory of segment files ``seg-<first sequence>.spool``. Each entry is framed as
``<body length u32><crc32(sequence + body) u32><sequence u64><body>``; bodies are opaque bytes
(msgpack items, see ``frames``). An append is one ``writev`` of the header and the body's parts (a
batch's payload is never copied in user space), so an accepted entry is in the page cache, and
survives kill -9, once ``append_parts`` returns; the CRC-32 comes from zlib-ng when it is installed
(the same values as zlib's, several times faster). Appends go to the newest segment, which rotates
once it reaches ``segment_bytes``; a cumulative ack deletes every segment whose last entry it
covers and records the acked sequence in ``acked`` (fsynced before any segment is deleted, so the
sequence never goes backwards across restarts; acks that delete nothing are not persisted, the
cloud's Welcome is authoritative). Durability follows the fsync policy: every append,
synchronously (``fsync_interval_s == 0``), or at most ``fsync_interval_s`` after an append
(``flush_due``) by a background thread, which also deletes acked segments, so appends never wait
for the disk. The CRC is checked when a spool is opened (recovery), not when this process reads
back what it wrote itself.

How it fails: a torn or garbled tail after kill -9 is found on open by its length/CRC, counted in
``corrupt_tails``/``corrupt_bytes``, cut off, and never fatal. When an append would exceed
``max_bytes`` it returns False (backpressure: the caller stops taking lossless input); nothing
is ever dropped. An entry that can never fit raises ``SpoolEntryTooLargeError``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pathlib
import struct
import time
from collections.abc import Callable, Sequence

from actors.uplink.disk_worker import DiskWorker

try:  # zlib-ng: the same CRC-32 (same values, same files) with SIMD, ~8x faster than zlib 1.2
    from zlib_ng.zlib_ng import crc32
except ImportError:  # pragma: no cover - depends on the installed packages
    from zlib import crc32

__all__ = ["DiskSpool", "SpoolEntryTooLargeError"]

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<IIQ")
_SEQ = struct.Struct("<Q")
_PREFIX, _SUFFIX = "seg-", ".spool"
_ACK_FILE = "acked"


class SpoolEntryTooLargeError(ValueError):
    """The entry is larger than the whole spool bound (or the framing limit)."""


@dataclasses.dataclass(slots=True)
class _Segment:
    path: pathlib.Path
    first_seq: int
    last_seq: int
    size: int
    base: int  # logical byte offset of the segment's start across the spool's life


def _crc(seq: int, parts: Sequence[bytes]) -> int:
    crc = crc32(_SEQ.pack(seq))
    for part in parts:
        crc = crc32(part, crc)
    return crc


def _write_rest(fd: int, buffers: list[bytes], written: int) -> None:
    """Finish an entry after a short ``writev`` (rare: the kernel may stop early)."""
    rest = memoryview(b"".join(buffers))
    while written < len(rest):
        written += os.write(fd, rest[written:])


class DiskSpool:
    """Append-only segments of (sequence, body) with cumulative ack and a read cursor."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int,
                 segment_bytes: int = 4 << 20, fsync_interval_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = pathlib.Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync_interval_s = fsync_interval_s
        self._clock = clock
        self.corrupt_tails = 0
        self.corrupt_bytes = 0
        self.fsyncs = 0
        self._segments: list[_Segment] = []
        self._size = 0                       # bytes in all segments
        self._last_seq = 0                   # newest stored sequence
        self._fd: int | None = None          # append fd of the newest segment
        self._dirty_since: float | None = None
        self._sync_pending = False
        self._rotated_unsynced: list[int] = []   # dup'd fds of rotated, not yet synced segments
        self._worker = DiskWorker()
        self._reader: tuple[pathlib.Path, int] | None = None
        self._cursor_seg = 0                 # first_seq of the segment the cursor is in
        self._cursor_off = 0
        self.directory.mkdir(parents=True, exist_ok=True)
        self.acked_sequence = self._read_ack_file()
        self._recover()
        self.rewind(self.acked_sequence)

    # ------------------------------------------------------------------ state
    @property
    def last_sequence(self) -> int:
        """Highest sequence ever stored (or acked, when the spool is empty)."""
        return max(self._last_seq, self.acked_sequence)

    @property
    def size_bytes(self) -> int:
        return self._size

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def can_ever_fit(self, body_len: int) -> bool:
        return _HEADER.size + body_len <= self.max_bytes and body_len < 1 << 32

    def has_room(self, body_len: int) -> bool:
        return self.size_bytes + _HEADER.size + body_len <= self.max_bytes

    def unread_bytes(self) -> int:
        """Bytes stored after the read cursor (what a sender has not read yet)."""
        if not self._segments:
            return 0
        end = self._segments[-1].base + self._segments[-1].size
        return max(0, end - self._cursor_logical())

    # ------------------------------------------------------------------ write
    def append(self, seq: int, body: bytes) -> bool:
        """Store one entry; False (nothing written) when the spool is full."""
        return self.append_parts(seq, (body,))

    def append_parts(self, seq: int, parts: Sequence[bytes], length: int = -1) -> bool:
        """Store one entry whose body is ``parts`` joined (``length`` bytes, when known), with
        one ``writev`` and no copy; False (nothing written) when the spool is full."""
        if length < 0:
            length = sum(map(len, parts))
        if not self.can_ever_fit(length):
            raise SpoolEntryTooLargeError(f"entry of {length} bytes exceeds the spool bound "
                                          f"of {self.max_bytes} bytes")
        if seq <= self._last_seq or seq <= self.acked_sequence:
            raise ValueError(f"spool sequence must increase: {seq} <= {self.last_sequence}")
        entry_size = _HEADER.size + length
        if self._size + entry_size > self.max_bytes:
            return False
        if not self._segments or self._segments[-1].size >= self.segment_bytes:
            self._rotate(seq)
        seg = self._segments[-1]
        if self._fd is None:
            self._fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND)
        buffers = [_HEADER.pack(length, _crc(seq, parts), seq), *parts]
        written = os.writev(self._fd, buffers)
        if written != entry_size:
            _write_rest(self._fd, buffers, written)
        seg.size += entry_size
        self._size += entry_size
        seg.last_seq = self._last_seq = seq
        if self.fsync_interval_s <= 0:
            os.fsync(self._fd)
            self.fsyncs += 1
        elif self._dirty_since is None:
            self._dirty_since = self._clock()
        elif not self._sync_pending and \
                self._clock() - self._dirty_since >= self.fsync_interval_s:
            self._sync_in_background()
        return True

    def flush_due(self) -> None:
        """Start a background fsync once the oldest unsynced append waited the interval."""
        if self._dirty_since is not None and not self._sync_pending and \
                self._clock() - self._dirty_since >= self.fsync_interval_s:
            self._sync_in_background()

    def _sync_in_background(self) -> None:
        fds, self._rotated_unsynced = self._rotated_unsynced, []
        if self._fd is not None and self._dirty_since is not None:
            fds.append(os.dup(self._fd))
        self._dirty_since = None
        if not fds:
            return
        self._sync_pending = True

        def fsync() -> None:
            try:
                for fd in fds:
                    os.fsync(fd)
                self.fsyncs += 1
            finally:
                for fd in fds:
                    os.close(fd)
                self._sync_pending = False

        self._worker.submit(fsync)

    def sync(self) -> None:
        """fsync now, in this thread (close, tests)."""
        self._worker.drain()
        fds, self._rotated_unsynced = self._rotated_unsynced, []
        if self._fd is not None and self._dirty_since is not None:
            fds.append(os.dup(self._fd))
        for fd in fds:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if fds:
            self.fsyncs += 1
        self._dirty_since = None

    def drain(self) -> None:
        """Wait until background fsyncs and deletions are done."""
        self._worker.drain()

    def ack(self, through_seq: int) -> int:
        """Everything up to ``through_seq`` is acknowledged; returns segments deleted."""
        if through_seq <= self.acked_sequence:
            return 0
        self.acked_sequence = through_seq
        doomed = [s for s in self._segments[:-1] if s.last_seq and s.last_seq <= through_seq]
        last = self._segments[-1] if self._segments else None
        if last is not None and last.last_seq and last.last_seq <= through_seq:
            doomed.append(last)
        if not doomed:
            return 0
        for seg in doomed:
            if seg is last:
                self._close_fd()
            self._segments.remove(seg)
            self._size -= seg.size
        acked, paths = self.acked_sequence, [seg.path for seg in doomed]

        def persist_then_delete() -> None:
            self._write_ack_file(acked)
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

        self._worker.submit(persist_then_delete)
        return len(doomed)

    def close(self) -> None:
        self.sync()
        self._worker.close()
        self._close_fd()
        self._reader = None

    # ------------------------------------------------------------------ read
    def position(self) -> tuple[int, int]:
        """The write end as a cursor value (segment, offset): just after the newest entry."""
        if not self._segments:
            return (0, 0)
        return (self._segments[-1].first_seq, self._segments[-1].size)

    def seek(self, position: tuple[int, int]) -> None:
        """Move the read cursor to a value from ``position()`` (entries before it were sent)."""
        self._cursor_seg, self._cursor_off = position

    def rewind(self, after_seq: int) -> None:
        """Move the read cursor to the first entry with a sequence above ``after_seq``."""
        candidates = [s for s in self._segments if s.first_seq <= after_seq + 1]
        seg = candidates[-1] if candidates else (self._segments[0] if self._segments else None)
        if seg is None:
            self._cursor_seg, self._cursor_off = 0, 0
            return
        self._cursor_seg, self._cursor_off = seg.first_seq, 0
        with open(seg.path, "rb") as fh:
            while self._cursor_off < seg.size:
                header = fh.read(_HEADER.size)
                length, _, seq = _HEADER.unpack(header)
                if seq > after_seq:
                    return
                fh.seek(length, os.SEEK_CUR)
                self._cursor_off += _HEADER.size + length

    def read(self, *, max_items: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """Up to ``max_items`` entries after the cursor (at least one if any), advancing it."""
        out: list[tuple[int, bytes]] = []
        total = 0
        while len(out) < max_items and (total < max_bytes or not out):
            seg = self._cursor_segment()
            if seg is None:
                break
            fd = self._reader_fd(seg.path)
            header = os.pread(fd, _HEADER.size, self._cursor_off)
            length, _, seq = _HEADER.unpack(header)
            if out and total + length > max_bytes:
                break
            body = os.pread(fd, length, self._cursor_off + _HEADER.size)
            self._cursor_off += _HEADER.size + length
            if len(body) != length:
                logger.error("spool entry %s in %s is short on read; skipped", seq, seg.path)
                self.corrupt_bytes += length
                continue
            out.append((seq, body))
            total += length
        return out

    # ------------------------------------------------------------------ internals
    def _cursor_segment(self) -> _Segment | None:
        for index, seg in enumerate(self._segments):
            if seg.first_seq == self._cursor_seg:
                if self._cursor_off < seg.size:
                    return seg
                if index + 1 < len(self._segments):
                    self._cursor_seg, self._cursor_off = self._segments[index + 1].first_seq, 0
                    continue
                return None
            if seg.first_seq > self._cursor_seg:      # cursor segment was deleted
                self._cursor_seg, self._cursor_off = seg.first_seq, 0
                return seg if seg.size else None
        return None

    def _cursor_logical(self) -> int:
        for seg in self._segments:
            if seg.first_seq == self._cursor_seg:
                return seg.base + self._cursor_off
        return self._segments[0].base if self._segments else 0

    def _reader_fd(self, path: pathlib.Path) -> int:
        if self._reader is None or self._reader[0] != path:
            if self._reader is not None:
                os.close(self._reader[1])
            self._reader = (path, os.open(path, os.O_RDONLY))
        return self._reader[1]

    def _rotate(self, first_seq: int) -> None:
        base = self._segments[-1].base + self._segments[-1].size if self._segments else 0
        if self._fd is not None and self._dirty_since is not None:
            # the closed segment is fsynced on the policy's schedule, not now
            self._rotated_unsynced.append(os.dup(self._fd))
        self._close_fd()
        path = self.directory / f"{_PREFIX}{first_seq:020d}{_SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if self.fsync_interval_s <= 0:
            self._fsync_dir()
        else:
            self._worker.submit(self._fsync_dir)
        self._segments.append(_Segment(path, first_seq, 0, 0, base))

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._reader is not None:
            os.close(self._reader[1])
            self._reader = None

    def _recover(self) -> None:
        paths = sorted(self.directory.glob(f"{_PREFIX}*{_SUFFIX}"))
        base, last_seq = 0, 0
        for path in paths:
            data = path.read_bytes()
            offset, first, seg_last = 0, 0, 0
            while offset < len(data):
                if len(data) - offset < _HEADER.size:
                    break
                length, crc, seq = _HEADER.unpack_from(data, offset)
                body = data[offset + _HEADER.size: offset + _HEADER.size + length]
                if len(body) != length or _crc(seq, (body,)) != crc or seq <= last_seq:
                    break
                first = first or seq
                seg_last = last_seq = seq
                offset += _HEADER.size + length
            if offset < len(data):
                self.corrupt_tails += 1
                self.corrupt_bytes += len(data) - offset
                logger.warning("spool segment %s: %d bytes of torn or corrupt tail cut off",
                               path.name, len(data) - offset)
                os.truncate(path, offset)
            if offset == 0:
                path.unlink()
                continue
            self._segments.append(_Segment(path, first, seg_last, offset, base))
            self._size += offset
            self._last_seq = seg_last
            base += offset
        if self._segments:
            self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)

    def _read_ack_file(self) -> int:
        try:
            return int((self.directory / _ACK_FILE).read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            logger.warning("spool ack file in %s is unreadable; starting from 0", self.directory)
            return 0

    def _write_ack_file(self, acked: int) -> None:
        tmp = self.directory / f"{_ACK_FILE}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, str(acked).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.directory / _ACK_FILE)
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
