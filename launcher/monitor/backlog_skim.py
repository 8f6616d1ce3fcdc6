"""Skimming a scalars.json backlog: the lines worth showing first, without parsing them all.

A huge backlog (watching a long finished run) is not parsed in one poll: the tailer
parses a budget of it in order and *skims* the rest with C-speed searches, so the
first view is ready at once. The skim emits out-of-order "peeks": every validation
line, the first non-finite lines and the last lines of the file. The in-order parse
reaches the same lines later; consumers must treat peeks as idempotent (see
``JobMetrics``).
"""

from __future__ import annotations

from launcher.monitor.scalars import ScalarBatch, ScalarFile, learn_shape, parse_single

__all__ = ["BacklogSkim"]

SKIM_CHUNK = 1 << 20
TAIL_PEEK = 64 << 10
MAX_NONFINITE_PEEKS = 16
# With log_with_hierarchy=True every line has a '/' key; past this many the skim
# stops peeking and leaves validation lines to the in-order parse.
MAX_VAL_PEEKS = 65536


class BacklogSkim:
    """Peeks at the unparsed part of scalars files; the peek caps count over all files
    of one work dir, so one instance serves one ``WorkDirTailer``."""

    def __init__(self) -> None:
        self.val_peeks = 0
        self.nonfinite_peeks = 0

    def skim(self, f: ScalarFile, peeks: list[ScalarBatch]) -> None:
        """Peeks at the unparsed part of a file without parsing every line."""
        if f.skimmed >= f.boundary:
            start, lines = f.skimmed, f.skim_lines
        else:
            start, lines = f.boundary, f.lines
        if start >= f.size:
            return
        # One reused buffer in small pieces keeps the several passes over each piece
        # in cache; a partial last line is re-read with the next piece.
        buf = bytearray(SKIM_CHUNK)
        view = memoryview(buf)
        pos = start
        try:
            with open(f.path, "rb") as fh:
                if f.shape is None:
                    fh.seek(start)
                    f.shape = learn_shape(fh.read(TAIL_PEEK).split(b"\n")[:-1])
                while pos < f.size:
                    fh.seek(pos)
                    n = fh.readinto(view[:min(SKIM_CHUNK, f.size - pos)])
                    if not n:
                        break
                    cut = buf.rfind(b"\n", 0, n) + 1
                    if not cut:
                        if n < SKIM_CHUNK:
                            break  # the file ends inside a line
                        pos += n  # a line longer than a piece: not one of MMEngine's
                        continue
                    lines = self._skim_chunk(f, buf, cut, lines, peeks)
                    pos += cut
                view.release()
                f.skimmed, f.skim_lines = pos, lines
                fh.seek(max(start, pos - TAIL_PEEK))
                tail = fh.read(pos - max(start, pos - TAIL_PEEK))
        except OSError:
            return
        if pos - len(tail) > start:
            tail = tail[tail.find(b"\n") + 1:]  # its first line is cut
        if tail:
            batches, _bad = f.parse(tail, lines - tail.count(b"\n"))
            peeks.extend(b for b in batches if not b.is_validation)

    def _skim_chunk(self, f: ScalarFile, data: bytearray, end: int, first_line: int,
                    peeks: list[ScalarBatch]) -> int:
        """Peeks at the lines of data[:end] worth showing before the in-order parse
        gets there; returns the line number after them."""
        starts: set[int] = set()
        if self.val_peeks < MAX_VAL_PEEKS:
            starts |= self._find_lines(data, end, b"/", MAX_VAL_PEEKS - self.val_peeks)
            self.val_peeks += len(starts)
        if self.nonfinite_peeks < MAX_NONFINITE_PEEKS:
            found: set[int] = set()
            for token in (b"NaN", b"Infinity"):
                found |= self._find_lines(data, end, f.needle(token),
                                          MAX_NONFINITE_PEEKS - self.nonfinite_peeks, token)
            found = set(sorted(found)[: MAX_NONFINITE_PEEKS - self.nonfinite_peeks])
            self.nonfinite_peeks += len(found - starts)
            starts |= found
        line_no, prev = first_line, 0
        for s in sorted(starts):
            line_no += data.count(b"\n", prev, s)
            prev = s
            single = parse_single(bytes(data[s:data.find(b"\n", s, end)]), f.index, line_no)
            if single is not None:
                peeks.append(single)
        return line_no + data.count(b"\n", prev, end)

    @staticmethod
    def _find_lines(data: bytearray, end: int, needle: bytes, cap: int,
                    token: bytes | None = None) -> set[int]:
        """Starts of the lines in data[:end] holding ``needle`` (and ``token``, if given)."""
        starts: set[int] = set()
        idx = data.find(needle, 0, end)
        while idx >= 0 and len(starts) < cap:
            s = data.rfind(b"\n", 0, idx) + 1
            e = data.find(b"\n", idx, end)
            if token is None or data.find(token, s, e) >= 0:
                starts.add(s)
            idx = data.find(needle, e, end)
        return starts
