"""The files of a run dir (the MMEngine work dir of a frcnn-tui job): the name of every file frcnn-tui keeps
and the one reader and writer of its plan.json (as submitit's JobPaths is for its job folders).

Every module that opens one of these files takes its name from here, so a rename or a new file is
one line. It is the lowest layer (stdlib and leaf modules only): the registry,
both backends, the monitor, the references, the sentinel and the TUI all import it.

The files the training itself writes for an exact resume (checkpoint_request, checkpointed.json,
.trained_iter, restarts.jsonl) are named in launcher/stack/exact_resume.py, which runs inside the
training interpreter on the stdlib alone; they are listed here from there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from launcher.errors import UserError
from launcher.monitor.values import finite
from launcher.paths import write_atomic
from launcher.stack.exact_resume import CHECKPOINTED_FILE, PROGRESS_FILE, REQUEST_FILE, RESTARTS_FILE

__all__ = ["PLAN", "CONFIG", "LAUNCH_SCRIPT", "SLURM_SCRIPT", "STDOUT", "STDERR", "LOGS", "EXIT_STATUS",
           "STOP_REQUESTED", "LAST_CHECKPOINT", "EVENTS", "SENTINEL", "REQUEUE", "ALL_FILES",
           "read_exit_status", "has_plan", "read_plan", "read_plan_checked", "write_plan"]

PLAN = "plan.json"  # Plan.to_dict at launch, plus what launch and `launch --reference` add
CONFIG = "config.py"  # the resolved MMEngine config the training runs
LAUNCH_SCRIPT = "launch.sh"  # a local job's torchrun line (launcher.jobs.local)
SLURM_SCRIPT = "slurm.sh"  # a SLURM job's batch script (launcher.jobs.slurm.script)
STDOUT, STDERR = "stdout.log", "stderr.log"  # the launcher's output, appended across attempts
LOGS = (STDOUT, STDERR)
EXIT_STATUS = "exit_status"  # the job's exit code, written by its script when it ends
STOP_REQUESTED = "stop_requested"  # written before a stop's signals: a non-zero exit is then 'stopped'
LAST_CHECKPOINT = "last_checkpoint"  # MMEngine's pointer to the checkpoint a resume loads
EVENTS = "events.jsonl"  # what the sentinel saw (launcher.sentinel.events)
SENTINEL = "sentinel.json"  # the sentinel's pid and start time (launcher.sentinel.presence)
REQUEUE = "requeue.txt"  # why a SLURM script requeued its job, or why not
ALL_FILES = (PLAN, CONFIG, LAUNCH_SCRIPT, SLURM_SCRIPT, *LOGS, EXIT_STATUS, STOP_REQUESTED, LAST_CHECKPOINT, EVENTS,
             SENTINEL, REQUEUE, REQUEST_FILE, CHECKPOINTED_FILE, PROGRESS_FILE, RESTARTS_FILE)

_NUMBERS = ("lr", "base_lr", "total_batch", "world_size")  # what the lr views compute with


def read_exit_status(run_dir: Path) -> int | None:
    """The exit code the job's script wrote when it ended; None while it runs (or when unreadable)."""
    try:
        return int((Path(run_dir) / EXIT_STATUS).read_text().strip())
    except (OSError, ValueError):
        return None


def has_plan(run_dir: Path) -> bool:
    """Whether RUN_DIR is a frcnn-tui run dir (its plan.json is there)."""
    return (Path(run_dir) / PLAN).is_file()


def read_plan(run_dir: Path) -> dict[str, Any]:
    """The plan, or {} when there is none or it is not a JSON object: for readers that only take
    hints from it (warmup, reference, notify targets, schedule) and follow any work dir."""
    try:
        data = json.loads((Path(run_dir) / PLAN).read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def read_plan_checked(run_dir: Path) -> dict[str, Any]:
    """The plan a resume or a comparison relies on: a JSON object whose numbers are numbers.
    Anything else is one UserError line naming the file."""
    path = Path(run_dir) / PLAN
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise UserError(f"cannot read {path}: {str(exc)[:100]}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a frcnn-tui plan (expected a JSON object, got {type(data).__name__})")
    for key in _NUMBERS:
        value = data.get(key)
        if value is not None and not finite(value):
            raise UserError(f"{path}: field '{key}' must be a number, got {value!r}"[:200])
    if not isinstance(data.get("resume_notes", []), list):
        raise UserError(f"{path}: field 'resume_notes' must be a list")
    return data


def write_plan(run_dir: Path, data: dict[str, Any]) -> Path:
    """Write the plan atomically (a reader never sees half of it); paths and the like as text."""
    path = Path(run_dir) / PLAN
    write_atomic(path, json.dumps(data, indent=2, default=str))
    return path
