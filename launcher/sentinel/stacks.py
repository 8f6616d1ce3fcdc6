"""Stacks of a stalled run: every rank's stacks, filed under ``<run dir>/stacks/<time>/rank<N>.txt``.

Where ptrace is allowed (root, kernel.yama.ptrace_scope 0, CAP_SYS_PTRACE), each rank is read
from outside with ``py-spy dump --native`` (PyPI py-spy, beside this interpreter): Python and
native frames of every thread, so a rank blocked in a collective shows the gloo/NCCL call it
waits in. Where py-spy is missing or refused (or FRCNN_TUI_STACKS=faulthandler asks for it),
the faulthandler dump below, which needs no permission. Each file's first line says which.

The training entry registers faulthandler on SIGUSR2 (train_entry.register_stack_dumps), writing to
``stacks/.rank<N>.live``; here the sentinel signals each rank process of the job (only one whose
live file exists: a rank of a job from before, without the handler, would die of SIGUSR2), waits
for the dumps, and copies what each rank added into one file per rank. A rank that is itself
stopped (SIGSTOP, a debugger) cannot dump: its file says so, which is the answer too. The
innermost frame of each rank's main thread goes into the ``stalled`` event's text, so the
notification already says which rank waits where.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from launcher.jobs import identity

__all__ = ["STACKS_DIR", "dump", "latest", "rank_processes"]

STACKS_DIR = "stacks"  # = train_entry.STACKS_DIR (that file cannot import this package)
SIGNAL = signal.SIGUSR2  # = train_entry.STACKS_SIGNAL
WAIT_S = 5.0
PY_SPY_TIMEOUT_S = 20.0
FAULTHANDLER = "faulthandler"  # FRCNN_TUI_STACKS=faulthandler: never ptrace the ranks
_PY_SPY_MAIN = re.compile(r'^Thread \d+ \([^)]*\): "MainThread"$', re.M)
_PY_SPY_THREAD = re.compile(r"^Thread \d+ \([^)]*\)", re.M)  # unnamed without threading: the first is main
_SYSTEM_LIB = re.compile(r"^(libc|libpthread|libstdc\+\+|ld-linux)[.-]")
_PY_SPY_FRAME = re.compile(r"^    (\S.*?) \((.+?)\)$", re.M)
_CURRENT = re.compile(r"^Current thread 0x[0-9a-f]+ \(most recent call first\):$", re.M)
_FRAME = re.compile(r'^\s+File "([^"]+)", line (\d+) in (.+)$', re.M)


def live_file(run_dir: Path, rank: int) -> Path:
    return Path(run_dir) / STACKS_DIR / f".rank{rank}.live"


def rank_processes(job_id: str) -> dict[int, psutil.Process]:
    """The job's rank processes on this host by global rank: marked with its id, with RANK (torchrun)
    or SLURM_PROCID (srun) in their environment, and not a child of another rank (a dataloader
    worker inherits its rank's environment)."""
    ranks: dict[int, psutil.Process] = {}
    for proc in identity.marked_processes(job_id):
        try:
            env = proc.environ()
            rank = env.get("RANK") or env.get("SLURM_PROCID")
            parent = proc.parent()
            if rank is None or "train_entry.py" not in " ".join(proc.cmdline()):
                continue
            parent_env = parent.environ() if parent is not None else {}
            if (parent_env.get("RANK") or parent_env.get("SLURM_PROCID")) is not None:
                continue  # a dataloader worker
            ranks[int(rank)] = proc
        except (psutil.Error, ValueError, OSError):
            continue
    return ranks


def py_spy() -> str | None:
    """The py-spy beside this interpreter (the venv's), else on PATH; None where absent or not wanted."""
    if os.environ.get("FRCNN_TUI_STACKS") == FAULTHANDLER:
        return None
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def py_spy_dump(exe: str, pid: int) -> str | None:
    """py-spy's dump of PID with native frames; None when it is refused (no ptrace) or fails."""
    try:
        proc = subprocess.run([exe, "dump", "--native", "--pid", str(pid)], capture_output=True, text=True,
                              timeout=PY_SPY_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 and proc.stdout.strip() else None


def innermost(text: str) -> str | None:
    """The innermost frame of the main thread (in a faulthandler dump: the dumping thread, which
    runs the signal handler). From py-spy: the innermost frame, and under a native one the
    innermost Python frame (where in the training code it waits)."""
    if (thread := _PY_SPY_MAIN.search(text) or _PY_SPY_THREAD.search(text)) is not None:
        block = text[thread.end():].split("\nThread ", 1)[0]
        frames = [(m.group(1), m.group(2)) for m in _PY_SPY_FRAME.finditer(block)]
        if not frames:
            return None
        def show(func: str, where: str) -> str:
            return f"{func} ({os.path.basename(where)})"
        python = next(((f, w) for f, w in frames if re.search(r":\d+$", w)), None)
        # The innermost native frame that says something: not a bare address, not libc's wait.
        native = next(((f, w) for f, w in frames if not f.startswith("0x") and not _SYSTEM_LIB.match(w)), None)
        if native is None or native == python or frames.index(native) > frames.index(python or native):
            return show(*python) if python else show(*frames[0])
        return f"{show(*native)} in {show(*python)}" if python else show(*native)
    current = _CURRENT.search(text)
    frame = _FRAME.search(text, current.end() if current else 0)
    if frame is None:
        return None
    return f"{frame.group(3).strip()} ({os.path.basename(frame.group(1))}:{frame.group(2)})"


def dump(run_dir: str | os.PathLike, job_id: str, *, wait_s: float = WAIT_S) -> dict[str, Any] | None:
    """Every rank's stacks now; None when the job has no rank here that can dump. Returns
    {"dir", "files", "ranks": {rank: innermost frame or why none}}."""
    run_dir = Path(run_dir)
    ranks = rank_processes(job_id)
    sizes = {}
    notes: dict[int, str] = {}
    outside: dict[int, str] = {}  # rank -> py-spy's dump
    exe = py_spy()
    for rank, proc in sorted(ranks.items()):
        try:
            stopped = proc.status() == psutil.STATUS_STOPPED
        except psutil.Error:
            stopped = False
        if exe and not stopped and (text := py_spy_dump(exe, proc.pid)):
            outside[rank] = f"# py-spy dump --native --pid {proc.pid} (rank {rank})\n{text}"
            continue
        live = live_file(run_dir, rank)
        if not live.exists():
            continue  # no handler registered: the signal would end the rank
        sizes[rank] = live.stat().st_size
        try:
            if proc.status() == psutil.STATUS_STOPPED:
                notes[rank] = "stopped (SIGSTOP or a debugger): it cannot dump"
                continue
            proc.send_signal(SIGNAL)
        except psutil.Error as exc:
            notes[rank] = f"gone ({type(exc).__name__})"
    if not sizes and not outside:
        return None
    deadline = time.monotonic() + wait_s
    waiting = [r for r in sizes if r not in notes]
    while waiting and time.monotonic() < deadline:
        time.sleep(0.1)
        # A dump is written in one go by the handler; a pause after the size grows lets it end.
        waiting = [r for r in waiting if live_file(run_dir, r).stat().st_size == sizes[r]]
    time.sleep(0.2)
    folder = run_dir / STACKS_DIR / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    files, found = [], {}
    for rank in sorted({*sizes, *outside}):
        if rank in outside:
            text = outside[rank]
        else:
            with open(live_file(run_dir, rank), "rb") as fh:
                fh.seek(sizes[rank])
                text = fh.read().decode("utf-8", "replace")
        if not text.strip():
            text = f"rank {rank}: no dump: {notes.get(rank) or f'nothing written within {wait_s:g} s'}\n"
            found[rank] = notes.get(rank) or "no dump"
        else:
            if rank not in outside:
                text = f"# faulthandler (SIGUSR2), Python frames only (rank {rank})\n{text}"
            found[rank] = innermost(text) or "no frame"
        path = folder / f"rank{rank}.txt"
        path.write_text(text)
        files.append(str(path))
    return {"dir": str(folder), "files": files, "ranks": found}


def latest(run_dir: str | os.PathLike) -> list[str]:
    """The files of the newest dump (for watch --json's ``stacks``); [] when none was made."""
    folder = Path(run_dir) / STACKS_DIR
    try:
        dumps = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []
    return [str(p) for p in sorted(dumps[-1].glob("rank*.txt"))] if dumps else []
