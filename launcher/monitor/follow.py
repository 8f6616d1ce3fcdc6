"""The one file follower: how far a growing file has been read, and its new complete lines.

Plain polling (stat, then read the new bytes) rather than inotify/watchdog, because
work dirs often live on NFS where change notifications never arrive. Everything that
follows a file uses this class: the work-dir tailer (scalars.json, text logs), the
TUI's log pane and ``frcnn-tui logs -f``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

__all__ = ["CHUNK", "MAX_LINE", "FollowedFile"]

CHUNK = 4 << 20
# A line longer than this is not something a training job wrote; holding it would let
# a corrupt file grow our memory without bound.
MAX_LINE = 1 << 20


class FollowedFile:
    """One followed file: how far it has been read, and its partial last line.

    ``stat()`` refreshes the size (and says whether the file was truncated or
    replaced); ``read_lines()`` then yields the complete lines written since.
    """

    # Bytes read and reads done by every follower in this process: benchmarks check with
    # them that a poll reads only what is new (bench/bench_tui_jobs.py). An int add per
    # read; unlocked, so threads may rarely lose a count, which a benchmark can bear.
    total_bytes_read = 0
    total_reads = 0

    def __init__(self, path: str | os.PathLike, name: str = "", index: int = 0, *,
                 keep_overlong: bool = False) -> None:
        self.path = Path(path)
        # An overlong line is dropped (and counted as bad) by parsers; a display keeps
        # it, cut into pieces without their newline, since losing text is worse there.
        self.keep_overlong = keep_overlong
        self.name = name or self.path.name
        self.index = index
        self.offset = 0  # bytes read, the partial line included
        self.pending = b""
        self.lines = 0  # complete lines consumed (bad and empty ones count too)
        self.dropping = False  # inside a line to skip (overlong, or cut by start_near_end)
        self.bad = 0
        self.ino: int | None = None
        self.size = 0
        self.mtime: float | None = None
        self.seen = False
        # Set when the file could be stat-ed but not opened or read (permissions, a
        # vanished NFS handle): its unread bytes are then no backlog, or a caller that
        # reads "until nothing is left" would loop forever. Cleared on the next read.
        self.unreadable = False

    @property
    def boundary(self) -> int:
        """Where the first incomplete line starts."""
        return self.offset - len(self.pending)

    @property
    def backlog(self) -> int:
        """Bytes known to be there and not yet read (0 while the file cannot be read)."""
        return 0 if self.unreadable else max(0, self.size - self.offset)

    def stat(self) -> bool:
        """Refreshes size; False when the file was truncated or replaced."""
        try:
            st = os.stat(self.path)
        except OSError:
            if self.seen and self.offset:
                return False
            self.size = 0
            return True
        replaced = self.ino is not None and st.st_ino != self.ino
        self.seen = True
        self.ino, self.size, self.mtime = st.st_ino, st.st_size, st.st_mtime
        return not (replaced or st.st_size < self.offset)

    def start_near_end(self, nbytes: int) -> None:
        """Skips all but the last ``nbytes`` (call after ``stat``); the line those
        bytes start inside is skipped too, so only whole lines come out."""
        self.offset = max(0, self.size - nbytes)
        self.pending = b""
        self.dropping = self.offset > 0

    def restart(self) -> None:
        """Forgets everything read, for a file that was truncated or replaced."""
        self.offset, self.pending, self.lines, self.dropping = 0, b"", 0, False
        self.ino = None

    def take_partial(self) -> bytes:
        """The incomplete last line, handed over and forgotten (for when the writer has
        ended and nothing will complete it)."""
        rest, self.pending = self.pending, b""
        return rest

    def read_lines(self, limit: float = float("inf")) -> Iterator[tuple[bytes, int]]:
        """Yields ``(complete lines, number of the first)`` from the current offset,
        in CHUNK pieces, reading at most ``limit`` bytes (with ``keep_overlong``, a
        piece of an overlong line also comes out alone, without a newline)."""
        if self.offset >= self.size or limit <= 0:
            return
        try:
            fh = open(self.path, "rb")
        except OSError:
            self.unreadable = True
            return
        with fh:
            fh.seek(self.offset)
            while self.offset < self.size and limit > 0:
                try:
                    data = fh.read(int(min(CHUNK, self.size - self.offset, limit)))
                except OSError:
                    self.unreadable = True
                    return
                # Fewer bytes than stat promised (an NFS size ahead of the data):
                # unreadable for now, like a failed read.
                self.unreadable = not data
                if not data:
                    return
                self.offset += len(data)
                limit -= len(data)
                FollowedFile.total_bytes_read += len(data)
                FollowedFile.total_reads += 1
                if self.dropping:
                    nl = data.find(b"\n")
                    if nl < 0:
                        continue
                    data, self.dropping = data[nl + 1:], False
                    self.lines += 1
                buf = self.pending + data if self.pending else data
                cut = buf.rfind(b"\n") + 1
                self.pending = buf[cut:]
                if cut:
                    first = self.lines
                    complete = buf[:cut]
                    self.lines += complete.count(b"\n")
                    yield complete, first
                if len(self.pending) > MAX_LINE:
                    if self.keep_overlong:
                        piece, self.pending = self.pending, b""
                        yield piece, self.lines
                    else:
                        self.pending, self.dropping = b"", True
                        self.bad += 1
