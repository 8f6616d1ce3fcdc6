"""Which rank failed first, and its own traceback, from torchrun's failure report.

When a worker dies, torchrun ends the others and prints a ChildFailedError report to its
stderr (the job's stderr.log), one block per failed rank, in the layout of
torch.distributed.elastic.multiprocessing.errors (_FAILURE_FORMAT_TEMPLATE)::

    Root Cause (first observed failure):
    [0]:
      time      : 2026-11-30_12:00:00
      host      : box
      rank      : 1 (local_rank: 1)
      exitcode  : -9 (pid: 4242)
      error_file: <N/A>
      traceback : Signal 9 (SIGKILL) received by PID 4242

A rank that raised has an error file (train_entry runs under torchrun's @record; the job's
--log-dir keeps it in the run dir) holding its traceback. torchrun's "root cause" is the
failure with the smallest timestamp, in whole seconds, and a rank killed outright gets the
time torchrun noticed it: so when one rank is SIGKILLed and another then fails in a
collective ("connection closed by peer"), torchrun can name the wrong one. Hence the rule:
a rank killed by a signal other than the ones torchrun itself sends to stop the survivors
(SIGTERM, then SIGKILL after its grace period is not reached in practice) came first;
otherwise the earliest error file by its exact mtime; otherwise torchrun's root cause.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from launcher import run_files

__all__ = ["annotate", "read_rank_failure"]

TAIL_BYTES = 256 << 10
_REPORT_START = "Root Cause (first observed failure):"
_BLOCK = re.compile(r"^\[(\d+)\]:\s*$")
_FIELD = re.compile(r"^  (time|host|rank|exitcode|error_file|traceback)\s*:\s?(.*)$")
_RANK = re.compile(r"(-?\d+) \(local_rank: (-?\d+)\)")
_EXIT = re.compile(r"(-?\d+) \(pid: (\d+)\)")
_BORDER = re.compile(r"^(=+|-+)$")
_SHUTDOWN_SIGNALS = {"SIGTERM", "SIGINT", "SIGHUP"}  # what a stopping torchrun or user sends everyone
_SIGNAL = re.compile(r"Signal (\d+) \((SIG[A-Z0-9]+)\)")


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - TAIL_BYTES))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _report_lines(text: str) -> list[str] | None:
    """The lines of the last failure report: its Failures section and its root cause."""
    root = text.rfind(_REPORT_START)
    if root < 0:
        return None
    start = text.rfind("Failures:", 0, root)
    lines = []
    for line in text[start if start >= 0 else root:].splitlines():
        line = re.sub(r"^\[[^\]]*rank\d+\]:", "", line)  # torch's own "[rank1]:" prefix, if any
        if lines and line.strip().startswith("=") and _BORDER.match(line.strip()) and \
                any(_REPORT_START in x for x in lines):
            break  # the report's closing border
        lines.append(line)
    return lines


def _parse_blocks(lines: list[str]) -> tuple[list[dict], int | None]:
    failures: list[dict] = []
    root_index = None
    current: dict | None = None
    in_root = False
    field = None
    for line in lines:
        if line.startswith(_REPORT_START):
            in_root = True
            continue
        if _BLOCK.match(line):
            current = {"traceback_lines": []}
            failures.append(current)
            if in_root:
                root_index = len(failures) - 1
            field = None
            continue
        if current is None or _BORDER.match(line.strip()):
            field = None if _BORDER.match(line.strip()) else field
            continue
        m = _FIELD.match(line)
        if m:
            field, value = m.group(1), m.group(2)
            if field == "traceback":
                current["traceback_lines"].append(value)
            else:
                current[field] = value.strip()
        elif field == "traceback" and line.startswith("  "):
            current["traceback_lines"].append(line[2:])  # torchrun indents the traceback by two spaces
    out = []
    for f in failures:
        rank = _RANK.search(f.get("rank", ""))
        code = _EXIT.search(f.get("exitcode", ""))
        traceback = "\n".join(f["traceback_lines"]).strip()
        sig = _SIGNAL.search(traceback)
        error_file = f.get("error_file")
        out.append({
            "rank": int(rank.group(1)) if rank else None,
            "local_rank": int(rank.group(2)) if rank else None,
            "host": f.get("host"),
            "exitcode": int(code.group(1)) if code else None,
            "pid": int(code.group(2)) if code else None,
            "signal": sig.group(2) if sig else None,
            "error_file": error_file if error_file and error_file != "<N/A>" else None,
            "traceback": traceback or None,
        })
    return out, root_index


def _error_file_detail(failure: dict) -> float | None:
    """The error file's exact mtime, and its traceback as the rank wrote it."""
    path = failure.get("error_file")
    if not path:
        return None
    try:
        mtime = os.stat(path).st_mtime
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    message = data.get("message")
    if isinstance(message, dict):
        stack = (message.get("extraInfo") or {}).get("py_callstack") or message.get("message")
        if stack:
            failure["traceback"] = str(stack).strip()
    return mtime


def _first(failures: list[dict], root_index: int | None) -> dict:
    killed = [f for f in failures if f["signal"] and f["signal"] not in _SHUTDOWN_SIGNALS]
    if killed:
        return killed[0]
    timed = [(t, i) for i, f in enumerate(failures) if (t := f.pop("_mtime", None)) is not None]
    if timed:
        return failures[min(timed)[1]]
    return failures[root_index if root_index is not None else 0]


def read_rank_failure(run_dir: str | os.PathLike) -> dict | None:
    """The rank that failed first in the job's last torchrun failure, or None when stderr.log
    holds no failure report. Keys: rank, local_rank, host, exitcode, pid, signal, error_file,
    traceback (that rank's own), summary (one line), others (the other failed ranks)."""
    lines = _report_lines(_tail(Path(run_dir) / run_files.STDERR))
    if not lines:
        return None
    failures, root_index = _parse_blocks(lines)
    if not failures:
        return None
    for f in failures:
        f["_mtime"] = _error_file_detail(f)
    first = _first(failures, root_index)
    for f in failures:
        f.pop("_mtime", None)
    how = (f"killed by {first['signal']}" if first["signal"] else
           f"raised (exit code {first['exitcode']})" if first["error_file"] else f"exit code {first['exitcode']}")
    last_line = (first["traceback"] or "").strip().splitlines()[-1:] or [""]
    first["summary"] = f"rank {first['rank']} (local rank {first['local_rank']}) failed first: {how}" + (
        f": {last_line[0]}" if last_line[0] and not first["signal"] else "")
    first["others"] = [{"rank": f["rank"], "exitcode": f["exitcode"], "signal": f["signal"]}
                       for f in failures if f is not first]
    return first


def annotate(snapshot: dict, run_dir: str | os.PathLike, job_status: str | None) -> dict:
    """A failed job's snapshot gets ``rank_failure`` (read_rank_failure) and a ``rank_failed``
    alert naming the rank that failed first; any other snapshot gets ``rank_failure: None``."""
    failure = read_rank_failure(run_dir) if job_status == "failed" else None
    snapshot["rank_failure"] = failure
    if failure:
        snapshot.setdefault("alerts", []).append({"kind": "rank_failed", "step": None, "message": failure["summary"]})
    return snapshot
