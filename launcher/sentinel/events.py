"""A job's events: ``<run dir>/events.jsonl``, one JSON object a line.

Each event is ``{"time", "kind", "job", "text", "details"}``: what the sentinel saw happen to
the job (finished, failed, stalled, ...) in one line of text a notification can carry, and
the numbers behind it. The file is appended to with O_APPEND (a line lands whole or not at
all, whoever else appends) and only ever read back here, by `jobs`, `watch --json` and the
Monitor. It holds no secret: a notification target appears in it only redacted.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from launcher import run_files

__all__ = ["EVENTS_FILE", "KINDS", "append", "read", "read_from", "size"]

EVENTS_FILE = run_files.EVENTS
# What the sentinel raises (the last four: a SLURM job's time in the queue, slurm_queue.py).
# The first five are notified by default (notify.DEFAULT_KINDS).
KINDS = ("finished", "failed", "stalled", "diverged", "behind-reference", "lr-after-resume", "input-bound",
         "stopped", "notify-failed", "pending", "requeued", "timeout", "preempted")
# What a reader takes in at most: the newest events of a long run are the ones that matter.
_READ_TAIL_BYTES = 256 << 10


def append(run_dir: str | os.PathLike, kind: str, job: str, text: str, details: dict[str, Any] | None = None,
           *, now: float | None = None) -> dict[str, Any] | None:
    """Appends one event; returns it, or None when it could not be written (a full disk must
    not take the sentinel down: the job goes on, and the next event may land)."""
    event = {"time": time.time() if now is None else now, "kind": kind, "job": job, "text": text,
             "details": details or {}}
    line = (json.dumps(event, default=str, allow_nan=False) + "\n").encode()
    try:
        fd = os.open(Path(run_dir) / EVENTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return None
    return event


def read(run_dir: str | os.PathLike, limit: int | None = None) -> list[dict[str, Any]]:
    """The job's events, oldest first (the newest LIMIT); [] for a run without any (a job
    launched before the sentinel existed, or one that had nothing to say). Unreadable
    lines are skipped."""
    path = Path(run_dir) / EVENTS_FILE
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _READ_TAIL_BYTES))
            data = fh.read()
    except OSError:
        return []
    lines = data.split(b"\n")
    if size > _READ_TAIL_BYTES:
        lines = lines[1:]  # the first is cut
    out = _parse(lines)
    return out[-limit:] if limit else out


def _parse(lines: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("kind"), str):
            out.append(event)
    return out


def size(run_dir: str | os.PathLike) -> int:
    """How many bytes of events the run has (0 without any): where a follower starts to see only new ones."""
    try:
        return (Path(run_dir) / EVENTS_FILE).stat().st_size
    except OSError:
        return 0


def read_from(run_dir: str | os.PathLike, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The events written at or after byte OFFSET, and the offset to read from next time (a line
    still being written is left for then). A file that shrank (replaced) is read again from 0."""
    path = Path(run_dir) / EVENTS_FILE
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            if end < offset:
                offset = 0
            fh.seek(offset)
            data = fh.read(min(end - offset, _READ_TAIL_BYTES))
    except OSError:
        return [], offset
    whole = data[:data.rfind(b"\n") + 1]
    return _parse(whole.split(b"\n")), offset + len(whole)
