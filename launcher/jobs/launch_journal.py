"""A launch killed at any step leaves no half state.

Launch is several steps: make the run dir (the resolved config is dumped into it), write
plan.json and launch.sh, spawn the job, write its registry entry. SIGKILL (an OOM killer, a
closed terminal, a user's kill -9) can land between any two. So:
- before anything is made, an *intent* is written (state/launching/<job id>.json: the run dir
  about to be made and the launcher's own pid and create time). Once the registry entry is
  written the intent is removed. The next launch (`sweep`) finds intents whose launcher is
  gone: with a registry entry, the job is whole and the intent just goes; without one, the run
  dir the launch made is removed (or, for a --work-dir that existed, only the files it wrote).
- the spawned job waits at a gate (`gate_script`) until its registry entry exists; if the
  launcher dies first, the job exits having started nothing. So no job ever runs unregistered
  and no registered job was never started.
A test-only variable, FRCNN_TUI_TEST_PAUSE_AT=<step>, makes launch stop at a step so a test
can kill it exactly there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from launcher import paths
from launcher.jobs import registry
from launcher import run_files

PAUSE_ENV = "FRCNN_TUI_TEST_PAUSE_AT"
STEPS = ("before-run-dir", "after-run-dir", "before-registry", "after-registry")
# What a launch writes into its run dir before its job starts (the gate holds the job until it is
# registered). A folder that existed before keeps its logs: they are appended to, and a reused
# folder's hold the earlier job's history.
WRITTEN_FILES = (run_files.CONFIG, run_files.PLAN, run_files.LAUNCH_SCRIPT)
LOG_FILES = run_files.LOGS
GATE_EXIT = 125  # the job's leader gave up: its launch died before registering it


def _intents_dir() -> Path:
    return paths.ensure_private_dir(paths.state_dir() / "launching")


def pause_point(step: str, job_id: str, run_dir: Path) -> None:
    """Test-only: stop here, forever, when FRCNN_TUI_TEST_PAUSE_AT names STEP."""
    if os.environ.get(PAUSE_ENV) == step:
        print(f"frcnn-tui: paused at {step} (job {job_id}, run dir {run_dir})", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)


def begin(job_id: str, run_dir: Path, made_here: bool) -> None:
    me = psutil.Process()
    registry.write_atomic(_intents_dir() / f"{registry.validate_name(job_id)}.json", json.dumps({
        "job_id": job_id, "run_dir": str(run_dir), "made_here": made_here,
        "pid": me.pid, "create_time": me.create_time()}))


def end(job_id: str) -> None:
    with contextlib.suppress(OSError):
        (_intents_dir() / f"{job_id}.json").unlink()


def _launcher_alive(intent: dict[str, Any]) -> bool:
    try:
        proc = psutil.Process(int(intent["pid"]))
        return abs(proc.create_time() - float(intent["create_time"])) < 0.05 and \
            proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def discard(run_dir: Path, made_here: bool) -> None:
    """Remove what an unfinished launch made: its files, and its run dir when the launch made it.
    Only named files, never a tree: whatever else a folder holds is not the launch's and stays."""
    for name in WRITTEN_FILES + (LOG_FILES if made_here else ()):
        with contextlib.suppress(OSError):
            (run_dir / name).unlink()
    if made_here:
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # only if empty


def sweep() -> list[str]:
    """Finish what killed launches left (call under registry.locked()). Returns what was removed."""
    removed = []
    for path in sorted(_intents_dir().glob("*.json")):
        try:
            intent = json.loads(path.read_text())
            job_id, run_dir = intent["job_id"], Path(intent["run_dir"])
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                path.unlink()  # an intent cut short while written: nothing was made after it
            continue
        if _launcher_alive(intent):
            continue  # a launch in progress elsewhere
        try:
            registry.load(job_id)
        except Exception:  # noqa: BLE001 - any unreadable or missing entry: the job was never registered
            discard(run_dir, bool(intent.get("made_here")))
            removed.append(str(run_dir))
        with contextlib.suppress(OSError):
            path.unlink()
    return removed


def gate_script(job_id: str) -> str:
    """A bash prelude that waits for JOB_ID's registry entry, then runs launch.sh in the same
    process (exec: the recorded pid and group stay the job's). If the launcher dies first the
    entry will never come: the job exits having started nothing."""
    entry = shlex.quote(str(paths.jobs_dir() / f"{job_id}.json"))
    launcher = os.getpid()
    return (f'until [ -e {entry} ]; do\n'
            f'  if ! kill -0 {launcher} 2>/dev/null && [ ! -e {entry} ]; then\n'
            f'    echo "frcnn-tui: the launch was killed before it registered job {job_id}; nothing started" >&2\n'
            f'    exit {GATE_EXIT}\n'
            f'  fi\n'
            f'  sleep 0.05\n'
            f'done\n'
            f'exec bash "$@"\n')
