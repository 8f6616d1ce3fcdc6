"""Whether a job's sentinel is there: ``<run dir>/sentinel.json`` holds its pid and create time.

A job launched before the sentinel existed has no such file and is shown as it always was.
A sentinel that was killed leaves the file behind without its process: the job goes on
(nothing in it waits for the sentinel) and `jobs` says the sentinel is gone, so nobody
counts on a notification that will not come.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil

from launcher.jobs import identity
from launcher import run_files

__all__ = ["FILE", "GONE", "ENDED", "RUNNING", "mark_started", "mark_ended", "state"]

FILE = run_files.SENTINEL
RUNNING, ENDED, GONE = "running", "ended", "gone"


def _write(run_dir: Path, data: dict) -> None:
    from launcher.jobs.registry import write_atomic

    try:
        write_atomic(Path(run_dir) / FILE, json.dumps(data))
    except OSError:
        pass  # a full disk: the sentinel still runs; `jobs` then cannot vouch for it


def mark_started(run_dir: str | os.PathLike) -> None:
    me = psutil.Process()
    _write(Path(run_dir), {"pid": me.pid, "create_time": me.create_time(), "host": identity.this_host(),
                           "started_at": time.time()})


def mark_ended(run_dir: str | os.PathLike) -> None:
    """Also keeps what following the job cost: the sentinel's CPU seconds over its lifetime."""
    data = _read(Path(run_dir)) or {}
    cpu = psutil.Process().cpu_times()
    _write(Path(run_dir), dict(data, ended_at=time.time(), cpu_s=round(cpu.user + cpu.system, 3)))


def _read(run_dir: Path) -> dict | None:
    try:
        data = json.loads((run_dir / FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def state(run_dir: str | os.PathLike) -> str | None:
    """RUNNING, ENDED (it saw the job end), GONE (its process is not there: killed), or None
    (no sentinel: a job from before, or one on another host, which cannot be seen from here)."""
    data = _read(Path(run_dir))
    if data is None or data.get("host") != identity.this_host():
        return None
    if data.get("ended_at"):
        return ENDED
    try:
        proc = psutil.Process(int(data["pid"]))
        same = abs(proc.create_time() - float(data["create_time"])) < identity.CREATE_TIME_TOLERANCE_S
        return RUNNING if same and identity.is_alive(proc) else GONE
    except (psutil.Error, KeyError, TypeError, ValueError, OverflowError):
        return GONE
