"""Events in a job's text logs: errors, tracebacks, the lr-scaling line, COCO tables,
non-finite losses, and the latest ``Epoch(train) [e][i/N]`` progress line.

Read from MMEngine's <timestamp>/<timestamp>.log and the launcher's stdout/stderr
captures. Scans search the raw bytes for a few needles first and decode only the
lines they hit, so a chatty log costs little.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from launcher.monitor import attempt_marks
from launcher.monitor.follow import FollowedFile

__all__ = ["LogEvent", "TextLog", "TrainProgress", "parse_train_line"]

MAX_TRACEBACK_LINES = 80

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
class LogEvent:
    kind: str  # "traceback" | "error" | "lr_scaling" | "coco_table" | "nonfinite" | "attempt"
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


def _line_at(data: bytes, idx: int) -> tuple[int, int]:
    return data.rfind(b"\n", 0, idx) + 1, data.find(b"\n", idx)


def _clean(raw: bytes) -> str:
    return _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip("\r\n")


def _strip_rank(line: str) -> tuple[str, str]:
    m = _RANK_PREFIX.match(line)
    return (m.group(0).strip(), line[m.end():]) if m else ("", line)


def _is_error_line(line: str) -> bool:
    return bool(_EXCEPTION_LINE.match(line) or _ERROR_LEVEL.search(line))


class TextLog(FollowedFile):
    """One followed text log and what its scan carries from one chunk to the next."""

    def __init__(self, path, name: str, index: int) -> None:
        super().__init__(path, name, index)
        # Open traceback blocks by rank prefix: ranks print theirs interleaved.
        self.tb: dict[str, list[str]] = {}
        self.nonfinite_seen = False
        self.lr_seen = False

    def scan(self, data: bytes, events: list[LogEvent]) -> TrainProgress | None:
        """Complete lines of the log -> ``events`` (appended) and the latest train progress."""
        pos = self._continue_tracebacks(data, 0, events) if self.tb else 0
        if not self.lr_seen:
            idx = data.find(_LR_SCALING)
            if idx >= 0:
                s, e = _line_at(data, idx)
                events.append(LogEvent("lr_scaling", _clean(data[s:e]), self.name))
                self.lr_seen = True
        idx = data.find(b"Average ")
        while idx >= 0:
            s, e = _line_at(data, idx)
            line = _clean(data[s:e])
            if _COCO_LINE.match(line):
                events.append(LogEvent("coco_table", line, self.name))
            idx = data.find(b"Average ", e)
        progress = self._scan_progress(data)
        if not self.nonfinite_seen:
            self._scan_nonfinite(data, events)
        candidates: set[int] = set()
        for needle in (_TRACEBACK.encode(), b"Error", b"ERROR", b"Exception", attempt_marks.NEEDLE):
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
                self.tb[prefix] = [line]
                pos = self._continue_tracebacks(data, e + 1, events)
            elif not prefix and attempt_marks.parse(line):  # a stop or a resume: where an attempt's errors end
                events.append(LogEvent("attempt", line, self.name))
            elif _is_error_line(line):
                events.append(LogEvent("error", line, self.name))
                pos = e + 1
        return progress

    def _continue_tracebacks(self, data: bytes, pos: int, events: list[LogEvent]) -> int:
        """Reads line by line while a traceback is open; returns where that stopped."""
        while pos < len(data) and self.tb:
            e = data.find(b"\n", pos)
            prefix, line = _strip_rank(_clean(data[pos:e]))
            pos = e + 1
            if line.startswith(_TRACEBACK):
                self.tb[prefix] = [line]
                continue
            block = self.tb.get(prefix)
            if block is None:
                if _is_error_line(line):
                    events.append(LogEvent("error", line, self.name))
                continue
            block.append(line)
            ended = bool(line) and not line[0].isspace()
            if ended or len(block) >= MAX_TRACEBACK_LINES:
                del self.tb[prefix]
                events.append(LogEvent("traceback", "\n".join(block), self.name))
                if ended and _is_error_line(line):
                    events.append(LogEvent("error", line, self.name))
        return pos

    def _scan_progress(self, data: bytes) -> TrainProgress | None:
        end = len(data)
        for _ in range(8):  # "(train)" may also occur in a line that is not a train log line
            idx = data.rfind(b"(train)", 0, end)
            if idx < 0:
                return None
            s, e = _line_at(data, idx)
            progress = parse_train_line(_clean(data[s:e]))
            if progress is not None:
                progress.source = self.name
                return progress
            end = s
        return None

    def _scan_nonfinite(self, data: bytes, events: list[LogEvent]) -> None:
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
            events.append(LogEvent("nonfinite", min(hits)[1], self.name))
            self.nonfinite_seen = True
