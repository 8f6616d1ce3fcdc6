"""The training stack's set-up while it runs in the background (`make run`: scripts/bootstrap.sh
--background), read from the files the bootstrap keeps in the venv: what it is doing, how far the mmcv
compile is, about how long is left, or why it failed.

The TUI opens before torch and mmcv exist, so the Home shows this and the plan's checks that need the
stack wait for it instead of failing. Stdlib only: it is read on the TUI's first frame.

- `.frcnn-tui-setup.json`: {state: running|failed|ready, phase: light|torch|train|mmcv|ready, step,
  error, log, pid, started, step_started}, rewritten whole at each step;
- `.frcnn-tui-setup.lock`: held (flock) by the bootstrap while it runs, so a set-up that was killed
  (a reboot, kill -9) is told from one that runs, whatever became of its pid;
- `.frcnn-tui-ready`: the stack is complete;
- the log: ninja's `[34/77]` lines give the compile's progress.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

STATUS_FILE = ".frcnn-tui-setup.json"
LOCK_FILE = ".frcnn-tui-setup.lock"
READY_FILE = ".frcnn-tui-ready"

BUILDING, FAILED = "building", "failed"
_STEPS = re.compile(rb"^\s*\[(\d+)/(\d+)\]", re.M)  # ninja's progress, as the bootstrap's own report reads it
_TAIL_BYTES = 64 * 1024
# What the checks wait for, by the bootstrap's phase, while there is no compile progress to count.
_PHASE_WORDS = {"light": "starting", "torch": "installing torch", "train": "installing mmdet", "mmcv": "mmcv"}


@dataclass(frozen=True)
class SetupStatus:
    state: str  # BUILDING or FAILED
    phase: str
    step: str
    log: str
    error: str
    started: float
    step_started: float
    progress: tuple[int, int] | None  # the mmcv compile's steps done, of how many
    now: float

    @property
    def doing(self) -> str:
        """The set-up in a few words: 'mmcv 34/77', 'installing torch'."""
        if self.progress:
            return f"mmcv {self.progress[0]}/{self.progress[1]}"
        return _PHASE_WORDS.get(self.phase, self.phase)

    @property
    def left_s(self) -> float | None:
        """About how long the compile has left, at the pace of its steps so far; None before it counts."""
        if not self.progress or self.progress[0] < 1:
            return None
        done, total = self.progress
        return max(0.0, self.now - self.step_started) / done * (total - done)

    @property
    def waiting(self) -> str:
        """What a check that needs the stack says meanwhile."""
        return f"waiting for the training stack ({self.doing})"

    @property
    def failure(self) -> str:
        return f"the training stack's set-up failed: {self.error} (full log: {self.log}); `make run` tries again"

    def line(self) -> str:
        """One line for the Home: the progress and the estimate, or the failure with its log."""
        if self.state == FAILED:
            return self.failure
        counted = ""
        if self.progress:  # the compile's steps, and the time they say is left
            left = self.left_s
            counted = f"{self.doing}{f', about {_minutes(left)} left' if left is not None else ''}; "
        return (f"setting up the training stack in the background: {self.step or self.doing} ({counted}"
                f"{_minutes(self.now - self.started)} so far) · Launch waits for it · log: {self.log}")


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min" if seconds >= 60 else f"{int(seconds)} s"


def venv_of(python: str) -> Path | None:
    """The venv whose interpreter PYTHON is (where the bootstrap keeps its files), or None."""
    folder = Path(python).absolute().parent.parent
    return folder if (folder / "pyvenv.cfg").is_file() else None


def _lock_held(venv: Path) -> bool:
    try:
        fd = os.open(venv / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared and let go at once: a bootstrap waits 2 s for it
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _progress(log: str) -> tuple[int, int] | None:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - _TAIL_BYTES))
            found = _STEPS.findall(f.read())
    except OSError:
        return None
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def read(venv: Path, now: float | None = None) -> SetupStatus | None:
    """The set-up of VENV while it is not ready: building, or failed (a set-up that stopped without a
    word, killed say, counts as failed). None when the stack is ready or no background set-up is known
    (a venv made before, or by hand: the checks then say what they find)."""
    if (venv / READY_FILE).exists():
        return None
    try:
        data = json.loads((venv / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("state") not in ("running", "failed"):
        return None
    state, error = FAILED, str(data.get("error") or "")
    if data["state"] == "running":
        if _lock_held(venv):
            state = BUILDING
        else:
            error = f"the set-up stopped during '{data.get('step') or data.get('phase')}' (killed?)"
    phase, log = str(data.get("phase") or ""), str(data.get("log") or "")

    def number(key: str) -> float:
        value = data.get(key)
        return float(value) if isinstance(value, (int, float)) else 0.0

    return SetupStatus(state=state, phase=phase, step=str(data.get("step") or ""), log=log, error=error,
                       started=number("started"), step_started=number("step_started"),
                       progress=_progress(log) if phase == "mmcv" else None,
                       now=time.time() if now is None else now)


def pending(python: str | None = None) -> SetupStatus | None:
    """The background set-up of the venv PYTHON (default: this interpreter's) while it is not ready."""
    venv = venv_of(python or sys.executable)
    return read(venv) if venv is not None else None


def main() -> int:
    """`python -m launcher.stack.setup_status [PYTHON]` (make run, after the TUI): the set-up in one
    line, on stderr when it failed; nothing when there is none or it is ready."""
    setup = pending(sys.argv[1] if len(sys.argv) > 1 else None)
    if setup is not None:
        print(f"frcnn-tui: {setup.line()}", file=sys.stderr if setup.state == FAILED else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
