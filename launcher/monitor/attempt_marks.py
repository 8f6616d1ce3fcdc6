"""A job's attempts: the lines frcnn-tui writes into its stdout.log and stderr.log when the
user stops it and when it is resumed, and what a reader makes of them.

Why lines in the logs and not a side file: the logs are appended across attempts, so the
errors of an attempt the user stopped (torchrun's ``SignalException ... got signal: 15``)
or of one that failed before a resume would otherwise stay the job's "first error" for
good. A mark sits exactly where the attempt's output ends or begins, in the same stream
as that output, so every reader (``watch``, ``jobs``, the Monitor, live or from the start,
restored from the history cache or not) cuts the errors at the same place:

- ``frcnn-tui: stopped by you at epoch 3 (20261207_041500)``: what the stream says after it
  until the next resume is the requested shutdown's noise, not an error;
- ``frcnn-tui: resumed from the epoch 2 checkpoint (attempt 2, 20261207_041530)``: the
  errors before it belong to the earlier attempts; so do MMEngine's ``<stamp>/`` folders
  older than its stamp (same format, local time, as MMEngine names them).

The user sees the same lines in ``logs JOB``, as the history they are. This module is their format
and their reading (below the metrics that read them); attempt_notes.py writes them.
"""

from __future__ import annotations

import re
import time

from launcher import run_files

__all__ = ["STREAMS", "NEEDLE", "stamp", "parse", "history_line", "stale_source"]

STREAMS = run_files.LOGS
NEEDLE = b"frcnn-tui: "
_MARK = re.compile(r"^frcnn-tui: (stopped by you|resumed)\b(.*?)\((?:attempt (\d+), )?(\d{8}_\d{6})\)\s*$")
_EPOCH = re.compile(r"\bepoch (\d+)\b")
_STAMP_SOURCE = re.compile(r"^(\d{8}_\d{6})/")


def stamp(now: float | None = None) -> str:
    return time.strftime("%Y%m%d_%H%M%S", time.localtime(time.time() if now is None else now))


def parse(line: str) -> dict | None:
    """{"event": "stopped" | "resumed", "epoch", "attempt", "stamp", "text"} of a mark, else None."""
    m = _MARK.match(line.strip())
    if m is None:
        return None
    epoch = _EPOCH.search(m.group(2))
    return {"event": "stopped" if m.group(1) == "stopped by you" else "resumed",
            "epoch": int(epoch.group(1)) if epoch else None,
            "attempt": int(m.group(3)) if m.group(3) else None, "stamp": m.group(4), "text": line.strip()}


def history_line(history: list[dict]) -> str | None:
    """"stopped by you at epoch 3, resumed": what happened to the job, in one line."""
    words = []
    for h in history:
        if h["event"] == "stopped":
            words.append("stopped by you" + (f" at epoch {h['epoch']}" if h.get("epoch") else ""))
        else:
            words.append("resumed")
    return ", ".join(words) or None


def stale_source(source: str, attempt_stamp: str | None) -> bool:
    """Whether a log (its path in the work dir) is an MMEngine folder of an earlier attempt."""
    m = _STAMP_SOURCE.match(source)
    return bool(attempt_stamp and m and m.group(1) < attempt_stamp)
