"""Checkpoint on request, the launcher's side: asking a job for it, and what its scripts do about it.

The training's side is launcher/stack/exact_resume.py: at the next iteration boundary every rank
agrees to save, the checkpoint becomes last_checkpoint, rank 0 writes checkpointed.json and the
workers exit 0. The job's script turns that 0 into CHECKPOINT_EXIT, so a checkpointed stop is
never read as a finished training (a resume of a 'succeeded' job is refused).
"""

from __future__ import annotations

from pathlib import Path

from launcher.jobs import shell
from launcher.stack import exact_resume
from launcher.stack.exact_resume import CHECKPOINT_EXIT, CHECKPOINTED_FILE, REQUEST_FILE

__all__ = ["CHECKPOINT_EXIT", "redone_per_restart", "request", "restarts", "saved", "script_start",
           "script_status"]

SLURM_WARNING = "slurm-signal"  # the reason the SLURM script's trap writes into the request
DEFAULT_WAIT_S = 600.0  # an iteration, an evaluation that may be running, and the save on slow storage


def script_start() -> list[str]:
    """Before the training: a request or a result of an earlier attempt is not this attempt's."""
    return [shell.comment("A checkpoint on request (stop --checkpoint, SLURM's warning) is per attempt."),
            f"rm -f {shell.word(REQUEST_FILE)} {shell.word(CHECKPOINTED_FILE)}"]


def script_status() -> list[str]:
    """After `rc=$?`: the workers exit 0 after a checkpoint on request; the job's status says so."""
    return [f'if [ "$rc" = 0 ] && [ -f {shell.word(CHECKPOINTED_FILE)} ]; then rc={CHECKPOINT_EXIT}; fi']


def request(run_dir: Path, reason: str) -> None:
    exact_resume.request(run_dir, reason)


def restarts(run_dir: Path) -> list[dict]:
    """Each restart of the run: resumed_at, trained_before and redone, the iterations trained again
    (0 when it resumed from a checkpoint on request; up to an epoch after a kill), as the training
    measured them (exact_resume)."""
    return exact_resume.read_restarts(run_dir)


def redone_per_restart(run_dir: Path) -> list[int]:
    return [row["redone"] for row in restarts(run_dir)]


def saved(run_dir: Path) -> dict | None:
    """What the last checkpoint on request of this attempt saved (iter, epoch, batches_done, checkpoint)."""
    return exact_resume.read_checkpointed(run_dir)
