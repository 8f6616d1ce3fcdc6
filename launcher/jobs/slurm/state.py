"""What a SLURM job state means for frcnn-tui: a status word (status_words) and a line to show.

SLURM's own state is always shown beside ours (`PENDING (Resources)`), so nothing is hidden
by the mapping; the status word decides what the views do (a pending job is watched like a
running one, a finished one can be resumed).
"""

from __future__ import annotations

from launcher import run_files
from launcher.jobs import registry, status_words
from launcher.jobs.registry import JobRecord
from launcher.jobs.slurm import cluster
from launcher.jobs.slurm.cluster import UNREACHABLE, JobInfo

# Waiting for resources, or put back in the queue by a requeue or a preemption.
WAITING = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD",
                     "SPECIAL_EXIT"})
ACTIVE = frozenset({"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "SUSPENDED", "STOPPED"})
FAILED = frozenset({"FAILED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
                    "REVOKED"})


def job_info(record: JobRecord) -> JobInfo | None:
    return cluster.job_info(record.slurm_job_id) if record.slurm_job_id else None


def status(record: JobRecord) -> str:
    """A SLURM job's status word (launcher.jobs.job_status asks this for every SLURM record)."""
    return status_of(job_info(record), exit_code=run_files.read_exit_status(record.run_path),
                     stop_requested=(record.run_path / registry.STOP_FILE).exists())


def status_of(info: JobInfo | None, *, exit_code: int | None, stop_requested: bool) -> str:
    """The registry status of a SLURM job: SLURM's state while it knows the job, else the exit
    status the batch script wrote (a cancelled script writes none)."""
    if info is not None and info.state != UNREACHABLE:
        if info.state in WAITING:
            return status_words.PENDING
        if info.state in ACTIVE:
            return status_words.RUNNING
        if info.state == "COMPLETED":
            return status_words.SUCCEEDED
        if info.state == "CANCELLED":
            return status_words.STOPPED
        if info.state in FAILED:
            return status_words.FAILED
    if exit_code == 0:
        return status_words.SUCCEEDED
    if stop_requested:
        return status_words.STOPPED
    if info is not None and info.state == UNREACHABLE:
        return status_words.UNKNOWN  # no answer and no exit status: cannot tell
    # Forgotten by SLURM (MinJobAge passed, no accounting) without an exit status: the script never
    # got to write one (killed, timed out, its node failed), or it failed.
    return status_words.FAILED


def describe(info: JobInfo | None) -> str:
    """SLURM's view in one short line: 'PENDING (Resources)', 'RUNNING on vm, restarts 1'."""
    if info is None:
        return "not known to SLURM any more"
    if info.state == UNREACHABLE:
        return f"SLURM did not answer ({info.reason})"
    text = info.state
    if info.reason and info.state in WAITING | FAILED:
        text += f" ({info.reason})"
    if info.expected_start and info.state in WAITING:
        text += f", expected to start {info.expected_start}"
    if info.state in ACTIVE and info.nodes:
        text += f" on {info.nodes}"
    if info.restarts:
        text += f", restarts {info.restarts}"
    return text
