"""Incremental tailer for an MMEngine work dir: scalars.json, text logs, stdout/stderr.

Plain polling (stat, then read the new bytes) rather than inotify/watchdog, because
work dirs often live on NFS where change notifications never arrive.

Layout followed (MMEngine 0.10.7; stdout/stderr.log are the launcher's captures)::

    work_dir/<config>.py, epoch_N.pth, best_*.pth, stdout.log, stderr.log
    work_dir/<YYYYMMDD_HHMMSS>/<YYYYMMDD_HHMMSS>.log
    work_dir/<YYYYMMDD_HHMMSS>/vis_data/scalars.json

Every start or resume adds a timestamp folder; the scalars files of all folders form
one stream, in folder-name order. A place in that stream is ``(file index, line
number)``; consumers order records by it.

A huge backlog (watching a long finished run) is not parsed in one poll: ``poll``
parses at most ``max_bytes`` of it in order and *skims* the rest with C-speed
searches, so the first view is ready at once. The skim emits out-of-order
"peeks": every validation line, the first non-finite lines and the last lines of
the file. The in-order parse reaches the same lines later; consumers must treat
peeks as idempotent (see ``JobMetrics``).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_POLL_BYTES",
    "LogEvent",
    "ScalarBatch",
    "TailUpdate",
    "TrainProgress",
    "WorkDirTailer",
    "parse_train_line",
]

CHUNK = 4 << 20
SKIM_CHUNK = 1 << 20
# A live job writes ~300 bytes per logged line; more than this per poll is history,
# which is skimmed for the first view and then read in pieces of this size.
DEFAULT_POLL_BYTES = 1 << 20
# A line longer than this is not something MMEngine wrote; holding it would let a
# corrupt file grow our memory without bound.
MAX_LINE = 1 << 20
TAIL_PEEK = 64 << 10
MAX_NONFINITE_PEEKS = 16
# With log_with_hierarchy=True every line has a '/' key; past this many the skim
# stops peeking and leaves validation lines to the in-order parse.
MAX_VAL_PEEKS = 65536
MAX_TRACEBACK_LINES = 80

TIMESTAMP_DIR = re.compile(r"^\d{8}_\d{6}$")
_CHECKPOINT = re.compile(r"^(?:(?:epoch|iter)_\d+|best_.+)\.pth$")
_MAX_EPOCHS = re.compile(rb"\bmax_epochs\s*=\s*(\d+)")
TEXT_SIDE_FILES = ("stdout.log", "stderr.log")

# json.dumps writes every value of a train line as one of these; NaN and Infinity
# are what Python's json emits for non-finite floats.
_VALUE = rb"(-?[0-9][0-9.eE+-]*|NaN|-?Infinity)"
_NOT_INT = re.compile(rb"[.eENI]")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# torchrun and tee-style launchers prefix worker lines with "[rank0]:" or "[default0]:".
_RANK_PREFIX = re.compile(r"^\[[^\]\s]{1,24}\]:\s?")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Failure)\b(?::|$)")
# ERROR as a log level ("- mmengine - ERROR -", "[ERROR]", "ERROR:root:"), not as a word
# inside a message or a config dump (log_level = 'ERROR').
_ERROR_LEVEL = re.compile(r"(?:^|\s-\s|\[)ERROR(?:\]|\s-\s|:)")
_TRACEBACK = "Traceback (most recent call last):"
_LR_SCALING = b"LR is set based on batch size"
_COCO_LINE = re.compile(r"^\s*Average (?:Precision|Recall)\s+\((?:AP|AR)\) @\[.*\]\s*=\s*-?[0-9.]+\s*$")
_TRAIN_HEAD = re.compile(
    r"Epoch\(train\)\s*\[(\d+)\]\s*\[\s*(\d+)/(\d+)\]|Iter\(train\)\s*\[\s*(\d+)/(\d+)\]"
)
_ETA = re.compile(r"\beta: (?:(\d+) days?, )?(\d+):(\d\d):(\d\d)")
_TIME = re.compile(r"\btime: ([0-9.]+)")
_STAMP = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d|\d\d/\d\d \d\d:\d\d:\d\d)")
_TEXT_NONFINITE = re.compile(r"\b(loss\w*): (nan|-?inf)\b")


@dataclass
class ScalarBatch:
    """Consecutive scalars.json lines with the same keys, stored by column.

    Column values are exactly what ``json.loads`` would give (int, float, or for
    irregular single lines anything JSON allows).
    """

    keys: tuple[str, ...]
    columns: dict[str, list]
    source: int
    first_line: int

    @property
    def n(self) -> int:
        return len(self.columns[self.keys[0]]) if self.keys else 0

    def pos(self, row: int) -> tuple[int, int]:
        return (self.source, self.first_line + row)

    @property
    def last_pos(self) -> tuple[int, int]:
        return self.pos(self.n - 1)

    def row(self, i: int) -> dict:
        return {k: self.columns[k][i] for k in self.keys}

    @property
    def is_validation(self) -> bool:
        # Evaluator metrics are prefixed ("coco/bbox_mAP"); train keys never are.
        return any("/" in k for k in self.keys)


@dataclass
class LogEvent:
    kind: str  # "traceback" | "error" | "lr_scaling" | "coco_table" | "nonfinite"
    text: str
    source: str


@dataclass
class TrainProgress:
    """What one ``Epoch(train) [e][i/N]`` (or ``Iter(train) [i/N]``) text line says."""

    epoch: int | None
    iter: int
    total: int
    by_epoch: bool
    eta_s: int | None
    time: float | None
    stamp: str | None
    source: str = ""


@dataclass
class TailUpdate:
    batches: list[ScalarBatch] = field(default_factory=list)
    peeks: list[ScalarBatch] = field(default_factory=list)
    events: list[LogEvent] = field(default_factory=list)
    progress: TrainProgress | None = None
    bad_lines: int = 0
    backlog_bytes: int = 0
    reset: bool = False
    truncated: list[str] = field(default_factory=list)
    checkpoints: list[str] | None = None
    max_epochs: int | None = None
    newest_mtime: float | None = None
    work_dir_missing: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.batches or self.peeks or self.events or self.progress or self.bad_lines
            or self.reset or self.checkpoints is not None or self.max_epochs is not None
        )


def parse_train_line(text: str) -> TrainProgress | None:
    head = _TRAIN_HEAD.search(text)
    if head is None:
        return None
    if head.group(1) is not None:
        epoch, it, total, by_epoch = int(head.group(1)), int(head.group(2)), int(head.group(3)), True
    else:
        epoch, it, total, by_epoch = None, int(head.group(4)), int(head.group(5)), False
    eta = _ETA.search(text)
    eta_s = None
    if eta:
        days, h, m, s = eta.groups()
        eta_s = int(days or 0) * 86400 + int(h) * 3600 + int(m) * 60 + int(s)
    t = _TIME.search(text)
    stamp = _STAMP.match(text)
    return TrainProgress(
        epoch=epoch, iter=it, total=total, by_epoch=by_epoch, eta_s=eta_s,
        time=float(t.group(1)) if t else None, stamp=stamp.group(1) if stamp else None,
    )


def _clean(raw: bytes) -> str:
    return _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip("\r\n")


def _strip_rank(line: str) -> tuple[str, str]:
    m = _RANK_PREFIX.match(line)
    return (m.group(0).strip(), line[m.end():]) if m else ("", line)


def _is_error_line(line: str) -> bool:
    return bool(_EXCEPTION_LINE.match(line) or _ERROR_LEVEL.search(line))


def _line_at(data: bytes, idx: int) -> tuple[int, int]:
    return data.rfind(b"\n", 0, idx) + 1, data.find(b"\n", idx)


def _is_train_record(d: object) -> bool:
    return (
        isinstance(d, dict) and len(d) >= 2
        and all("/" not in k for k in d)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in d.values())
    )


@functools.lru_cache(maxsize=32)
def _shape_pattern(keys: tuple[str, ...]) -> re.Pattern:
    # Either a whole line of exactly these keys in this order (json.dumps default
    # separators), or any other line captured whole in the last group.
    body = b", ".join(re.escape(json.dumps(k).encode()) + b": " + _VALUE for k in keys)
    return re.compile(rb"\{" + body + rb"\}\n|([^\n]*)\n")


def _learn_shape(lines) -> tuple[str, ...] | None:
    for line in lines:
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if _is_train_record(d):
            return tuple(d)
    return None


def _convert_column(values: tuple) -> list:
    # int() first so the column equals what json.loads would give; a float that
    # slipped into an int column (or "1.2.3" that only looks numeric) falls back.
    if not _NOT_INT.search(values[0]):
        try:
            return list(map(int, values))
        except ValueError:
            pass
    return list(map(float, values))


def _single(line: bytes, source: int, line_no: int) -> ScalarBatch | None:
    """One irregular line through json.loads; None when it is not a JSON object."""
    try:
        d = json.loads(line)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None
    if not isinstance(d, dict) or not d:
        return None
    return ScalarBatch(tuple(d), {k: [v] for k, v in d.items()}, source, line_no)


class _Tracked:
    """One followed file: how far it has been read, and its partial last line."""

    def __init__(self, path: Path, name: str, index: int) -> None:
        self.path = path
        self.name = name
        self.index = index
        self.offset = 0  # bytes read, the partial line included
        self.pending = b""
        self.lines = 0  # complete lines consumed (bad and empty ones count too)
        self.dropping = False  # inside an overlong line, skipping to its newline
        self.bad = 0
        self.ino: int | None = None
        self.size = 0
        self.mtime: float | None = None
        self.seen = False

    @property
    def boundary(self) -> int:
        return self.offset - len(self.pending)

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

    def read_lines(self, limit: float):
        """Yields ``(complete lines, number of the first)`` from the current offset,
        in CHUNK pieces, reading at most ``limit`` bytes."""
        if self.offset >= self.size or limit <= 0:
            return
        try:
            fh = open(self.path, "rb")
        except OSError:
            return
        with fh:
            fh.seek(self.offset)
            while self.offset < self.size and limit > 0:
                try:
                    data = fh.read(int(min(CHUNK, self.size - self.offset, limit)))
                except OSError:
                    return
                if not data:
                    return
                self.offset += len(data)
                limit -= len(data)
                if self.dropping:
                    nl = data.find(b"\n")
                    if nl < 0:
                        continue
                    data, self.dropping = data[nl + 1:], False
                    self.lines += 1
                buf = self.pending + data if self.pending else data
                cut = buf.rfind(b"\n") + 1
                self.pending = buf[cut:]
                if len(self.pending) > MAX_LINE:
                    self.pending, self.dropping = b"", True
                    self.bad += 1
                if cut:
                    first = self.lines
                    complete = buf[:cut]
                    self.lines += complete.count(b"\n")
                    yield complete, first


class _ScalarFile(_Tracked):
    def __init__(self, path: Path, name: str, index: int) -> None:
        super().__init__(path, name, index)
        self.shape: tuple[str, ...] | None = None
        self.skimmed = 0
        self.skim_lines = 0

    def needle(self, token: bytes) -> bytes:
        """What the skim searches for to find ``token`` (NaN, Infinity): its first
        byte alone when no key has that byte, since bytes.find is memchr-fast only
        for one-byte needles."""
        if self.shape is None or any(chr(token[0]) in k for k in self.shape):
            return token
        return token[:1]

    def parse(self, data: bytes, first_line: int) -> tuple[list[ScalarBatch], int]:
        """Complete lines -> batches in file order, plus the count of bad lines.

        The fast path is one regex over the whole chunk for the file's usual key
        order, then column-wise int()/float(): 1.1-2x faster than json.loads per line
        (float parsing dominates both). Lines with other keys (validation, odd lines) go through json.loads,
        unless many consecutive ones share a new key order (a resume without CUDA
        drops "memory"), which then gets a fast path of its own.
        """
        if self.shape is None:
            self.shape = _learn_shape(data.split(b"\n", 64)[:64])
        if self.shape is None:
            return self._parse_slow(data.split(b"\n")[:-1], first_line)
        batches, bad, self.shape = self._parse_shaped(data, first_line, self.shape, depth=0)
        return batches, bad

    def _parse_shaped(self, data: bytes, first_line: int, shape: tuple[str, ...],
                      depth: int) -> tuple[list[ScalarBatch], int, tuple[str, ...]]:
        """Also returns the key order of the chunk's last lines, for the next chunk."""
        rows = _shape_pattern(shape).findall(data)
        others = [i for i, r in enumerate(rows) if not r[0]]
        batches: list[ScalarBatch] = []
        bad = 0
        last_shape = shape
        start = 0
        k = 0
        while start < len(rows):
            a = others[k] if k < len(others) else len(rows)
            b = a  # others[k .. ] that are consecutive: rows[a:b]
            while k < len(others) and others[k] == b:
                k += 1
                b += 1
            if a > start:
                run, nbad = self._run(shape, rows[start:a], first_line + start)
                batches.extend(run)
                bad += nbad
                last_shape = shape
            if b > a:
                lines = [r[-1] for r in rows[a:b]]
                new = _learn_shape(lines[:64]) if b - a >= 8 and depth < 2 else None
                if new is not None and new != shape:
                    sub, nbad, last_shape = self._parse_shaped(
                        b"\n".join(lines) + b"\n", first_line + a, new, depth + 1)
                else:
                    sub, nbad = self._parse_slow(lines, first_line + a)
                batches.extend(sub)
                bad += nbad
            start = b
        return batches, bad, last_shape

    def _run(self, shape: tuple[str, ...], rows: list[tuple],
             first_line: int) -> tuple[list[ScalarBatch], int]:
        cols = list(zip(*rows))
        try:
            columns = {k: _convert_column(c) for k, c in zip(shape, cols)}
        except ValueError:
            # A value the regex let through but int()/float() refuse ("1.2.3"):
            # rare enough to redo row by row with JSON's own rules.
            return self._rows_one_by_one(shape, rows, first_line)
        return [ScalarBatch(shape, columns, self.index, first_line)], 0

    def _rows_one_by_one(self, shape: tuple[str, ...], rows: list[tuple],
                         first_line: int) -> tuple[list[ScalarBatch], int]:
        batches, bad = [], 0
        for i, r in enumerate(rows):
            try:
                values = [json.loads(v) for v in r[:-1]]
            except ValueError:
                bad += 1
                continue
            columns = {k: [v] for k, v in zip(shape, values)}
            batches.append(ScalarBatch(shape, columns, self.index, first_line + i))
        return batches, bad

    def _parse_slow(self, lines: list[bytes], first_line: int) -> tuple[list[ScalarBatch], int]:
        batches, bad = [], 0
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            single = _single(line, self.index, first_line + i)
            if single is None:
                bad += 1
            else:
                batches.append(single)
        return batches, bad


class _TextFile(_Tracked):
    def __init__(self, path: Path, name: str, index: int) -> None:
        super().__init__(path, name, index)
        # Open traceback blocks by rank prefix: ranks print theirs interleaved.
        self.tb: dict[str, list[str]] = {}
        self.nonfinite_seen = False
        self.lr_seen = False


class WorkDirTailer:
    """Follows one work dir; call ``poll()`` at any rate, it never blocks on the job."""

    def __init__(self, work_dir: str | os.PathLike) -> None:
        self.work_dir = Path(work_dir)
        self._reset_state()

    def _reset_state(self) -> None:
        self._scalars: dict[str, _ScalarFile] = {}
        self._texts: dict[str, _TextFile] = {}
        self._checkpoints: list[str] = []
        self._config_mtime: dict[str, float] = {}
        self._max_epochs: int | None = None
        self._nonfinite_peeks = 0
        self._val_peeks = 0

    @property
    def max_epochs(self) -> int | None:
        """From the config MMEngine dumps into the work dir, when it has one."""
        return self._max_epochs

    def poll(self, max_bytes: int | None = DEFAULT_POLL_BYTES, *, skim: bool = True) -> TailUpdate:
        """Reads what is new. At most ``max_bytes`` of scalars are parsed in order;
        ``TailUpdate.backlog_bytes`` says how much is left. None parses everything
        into one update, whose size then grows with the backlog: to read a long
        history, loop with a budget instead (``watch_view.catch_up``).
        ``skim=False`` skips the peeks, for callers that read everything anyway."""
        upd = TailUpdate()
        if not self._scan_dir(upd):
            upd.work_dir_missing = True
            return upd
        truncated = [t.name for t in self._tracked() if not t.stat()]
        if truncated:
            # Starting every file over is the only way the consumer's series stay
            # consistent with the files; truncation is rare (a log was rewritten).
            self._reset_state()
            self._scan_dir(upd)
            upd.reset = True
            upd.truncated = truncated
            upd.checkpoints = list(self._checkpoints)
            for t in self._tracked():
                t.stat()
        budget = float("inf") if max_bytes is None else max(0, max_bytes)
        scalars = sorted(self._scalars.values(), key=lambda f: f.index)
        if skim and sum(f.size - f.offset for f in scalars) > budget:
            for f in scalars:
                self._skim(f, upd)
        for f in scalars:
            before = f.offset
            for data, first in f.read_lines(budget):
                batches, bad = f.parse(data, first)
                upd.batches.extend(batches)
                upd.bad_lines += bad
            budget -= f.offset - before
            if f.offset < f.size:
                break  # later folders wait, so every series stays in stream order
        for t in self._texts.values():
            for data, _first in t.read_lines(float("inf")):
                self._scan_text(t, data, upd)
        mtimes = []
        for t in self._tracked():
            upd.bad_lines += t.bad
            t.bad = 0
            if t.mtime is not None:
                mtimes.append(t.mtime)
        upd.backlog_bytes = sum(max(0, f.size - f.offset) for f in scalars)
        upd.newest_mtime = max(mtimes, default=None)
        return upd

    def _tracked(self) -> list[_Tracked]:
        return [*self._scalars.values(), *self._texts.values()]

    # -- directory ------------------------------------------------------------

    def _scan_dir(self, upd: TailUpdate) -> bool:
        try:
            entries = list(os.scandir(self.work_dir))
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:
            return True  # transient (NFS): keep what is known
        stamps, checkpoints, configs = [], [], []
        for e in entries:
            name = e.name
            if TIMESTAMP_DIR.match(name):
                stamps.append(name)
            elif _CHECKPOINT.match(name):
                checkpoints.append(str(self.work_dir / name))
            elif name.endswith(".py"):
                configs.append(e)
            elif name in TEXT_SIDE_FILES and name not in self._texts:
                self._texts[name] = _TextFile(Path(e.path), name, len(self._texts))
        for ts in sorted(stamps):
            if ts not in self._scalars:
                rel = f"{ts}/vis_data/scalars.json"
                self._scalars[ts] = _ScalarFile(self.work_dir / rel, rel, len(self._scalars))
                log_rel = f"{ts}/{ts}.log"
                self._texts[log_rel] = _TextFile(self.work_dir / log_rel, log_rel, len(self._texts))
        checkpoints.sort()
        if checkpoints != self._checkpoints:
            self._checkpoints = checkpoints
            upd.checkpoints = list(checkpoints)
        for e in configs:
            self._read_config(e, upd)
        return True

    def _read_config(self, entry: os.DirEntry, upd: TailUpdate) -> None:
        try:
            mtime = entry.stat().st_mtime
            if self._config_mtime.get(entry.name) == mtime:
                return
            self._config_mtime[entry.name] = mtime
            with open(entry.path, "rb") as fh:
                text = fh.read(1 << 20)
        except OSError:
            return
        m = _MAX_EPOCHS.search(text)
        if m and int(m.group(1)) != self._max_epochs:
            self._max_epochs = int(m.group(1))
            upd.max_epochs = self._max_epochs

    # -- scalars backlog skim -------------------------------------------------

    def _skim(self, f: _ScalarFile, upd: TailUpdate) -> None:
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
                    f.shape = _learn_shape(fh.read(TAIL_PEEK).split(b"\n")[:-1])
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
                    lines = self._skim_chunk(f, buf, cut, lines, upd)
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
            upd.peeks.extend(b for b in batches if not b.is_validation)

    def _skim_chunk(self, f: _ScalarFile, data: bytearray, end: int, first_line: int,
                    upd: TailUpdate) -> int:
        """Peeks at the lines of data[:end] worth showing before the in-order parse
        gets there; returns the line number after them."""
        starts: set[int] = set()
        if self._val_peeks < MAX_VAL_PEEKS:
            starts |= self._find_lines(data, end, b"/", MAX_VAL_PEEKS - self._val_peeks)
            self._val_peeks += len(starts)
        if self._nonfinite_peeks < MAX_NONFINITE_PEEKS:
            found: set[int] = set()
            for token in (b"NaN", b"Infinity"):
                found |= self._find_lines(data, end, f.needle(token),
                                          MAX_NONFINITE_PEEKS - self._nonfinite_peeks, token)
            found = set(sorted(found)[: MAX_NONFINITE_PEEKS - self._nonfinite_peeks])
            self._nonfinite_peeks += len(found - starts)
            starts |= found
        line_no, prev = first_line, 0
        for s in sorted(starts):
            line_no += data.count(b"\n", prev, s)
            prev = s
            single = _single(bytes(data[s:data.find(b"\n", s, end)]), f.index, line_no)
            if single is not None:
                upd.peeks.append(single)
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

    # -- text logs ------------------------------------------------------------

    def _scan_text(self, t: _TextFile, data: bytes, upd: TailUpdate) -> None:
        """Complete lines of a text log -> events and the latest train progress."""
        pos = self._continue_tracebacks(t, data, 0, upd) if t.tb else 0
        if not t.lr_seen:
            idx = data.find(_LR_SCALING)
            if idx >= 0:
                s, e = _line_at(data, idx)
                upd.events.append(LogEvent("lr_scaling", _clean(data[s:e]), t.name))
                t.lr_seen = True
        idx = data.find(b"Average ")
        while idx >= 0:
            s, e = _line_at(data, idx)
            line = _clean(data[s:e])
            if _COCO_LINE.match(line):
                upd.events.append(LogEvent("coco_table", line, t.name))
            idx = data.find(b"Average ", e)
        self._scan_progress(t, data, upd)
        if self._max_epochs is None:
            # MMEngine prints the whole config at the top of the text log, so a work
            # dir without the dumped .py still tells the schedule length.
            m = _MAX_EPOCHS.search(data)
            if m:
                self._max_epochs = upd.max_epochs = int(m.group(1))
        if not t.nonfinite_seen:
            self._scan_text_nonfinite(t, data, upd)
        candidates: set[int] = set()
        for needle in (_TRACEBACK.encode(), b"Error", b"ERROR", b"Exception"):
            idx = data.find(needle, pos)
            while idx >= 0:
                s, e = _line_at(data, idx)
                candidates.add(s)
                idx = data.find(needle, e)
        for s in sorted(candidates):
            if s < pos:
                continue  # already inside a traceback block
            e = data.find(b"\n", s)
            prefix, line = _strip_rank(_clean(data[s:e]))
            if line.startswith(_TRACEBACK):
                t.tb[prefix] = [line]
                pos = self._continue_tracebacks(t, data, e + 1, upd)
            elif _is_error_line(line):
                upd.events.append(LogEvent("error", line, t.name))
                pos = e + 1

    def _continue_tracebacks(self, t: _TextFile, data: bytes, pos: int, upd: TailUpdate) -> int:
        """Reads line by line while a traceback is open; returns where that stopped."""
        while pos < len(data) and t.tb:
            e = data.find(b"\n", pos)
            prefix, line = _strip_rank(_clean(data[pos:e]))
            pos = e + 1
            if line.startswith(_TRACEBACK):
                t.tb[prefix] = [line]
                continue
            block = t.tb.get(prefix)
            if block is None:
                if _is_error_line(line):
                    upd.events.append(LogEvent("error", line, t.name))
                continue
            block.append(line)
            ended = bool(line) and not line[0].isspace()
            if ended or len(block) >= MAX_TRACEBACK_LINES:
                del t.tb[prefix]
                upd.events.append(LogEvent("traceback", "\n".join(block), t.name))
                if ended and _is_error_line(line):
                    upd.events.append(LogEvent("error", line, t.name))
        return pos

    def _scan_progress(self, t: _TextFile, data: bytes, upd: TailUpdate) -> None:
        end = len(data)
        for _ in range(8):  # "(train)" may also occur in a line that is not a train log line
            idx = data.rfind(b"(train)", 0, end)
            if idx < 0:
                return
            s, e = _line_at(data, idx)
            progress = parse_train_line(_clean(data[s:e]))
            if progress is not None:
                progress.source = t.name
                upd.progress = progress
                return
            end = s

    def _scan_text_nonfinite(self, t: _TextFile, data: bytes, upd: TailUpdate) -> None:
        hits = []
        for needle in (b": nan", b": inf", b": -inf"):
            idx = data.find(needle)
            while idx >= 0:
                s, e = _line_at(data, idx)
                line = _clean(data[s:e])
                if _TEXT_NONFINITE.search(line) and "(train)" in line:
                    hits.append((s, line))
                    break
                idx = data.find(needle, e)
        if hits:
            upd.events.append(LogEvent("nonfinite", min(hits)[1], t.name))
            t.nonfinite_seen = True
