"""One job interface over the places a job runs: this host (local.py, torchrun) or SLURM (slurm/).

The registry record says which (JobRecord.backend); job_status.status() already asks the right
one. The actions that differ go through here, so the CLI, `watch` and the TUI never branch on
the backend themselves.
"""

from __future__ import annotations

import re
from typing import Any

from launcher.errors import UserError
from launcher.jobs import identity, job_status, registry, status_words
from launcher.jobs.registry import JobRecord
from launcher import run_files


def is_slurm(record: JobRecord) -> bool:
    return record.backend == registry.SLURM


def where(record: JobRecord) -> str:
    """Where the job runs, in the words of its backend: its SLURM job id, or its local pid."""
    return f"SLURM job {record.slurm_job_id}" if is_slurm(record) else f"pid {record.pid}"


def stop(record: JobRecord, grace: float = 30.0, *, checkpoint_wait: float | None = None) -> tuple[int, int]:
    """Stop the job: (processes signalled or SLURM jobs cancelled, how many are left). With
    checkpoint_wait, it first checkpoints at its next iteration (checkpoint_stop) and exits by itself.
    A SLURM job always does: its ranks take scancel's SIGTERM as the request (SIGKILL is KillWait later)."""
    if is_slurm(record):
        from launcher.jobs.slurm import jobs as slurm_jobs

        return slurm_jobs.stop(record, grace=grace)
    from launcher.jobs import local

    found = local.stop(record, grace=grace, checkpoint_wait=checkpoint_wait)
    return found, len(identity.job_processes(record))


def finished_at(record: JobRecord) -> str | None:
    """'at epoch 2/2' (from its last checkpoint) for a job whose training ran to its end, else
    None. Succeeded is the loop's own end: MMEngine's runner returned and the launch script
    wrote exit 0, so its last checkpoint is the schedule's last epoch."""
    if job_status.status(record) != status_words.SUCCEEDED:
        return None
    try:
        last = (record.run_path / run_files.LAST_CHECKPOINT).read_text().strip()
    except OSError:
        last = ""
    match = re.fullmatch(r"epoch_(\d+)\.pth", last.rsplit("/", 1)[-1])
    if not match:  # iteration-based, or no checkpoint kept
        return "at the end of its schedule"
    return f"at epoch {match.group(1)}/{record.max_epochs or match.group(1)}"


def resume(record: JobRecord, *, nproc: int | None = None) -> JobRecord:
    """Continue from the run dir's last checkpoint (a SLURM job is submitted again). A finished
    job is refused: its workers would load the last epoch's checkpoint and train nothing."""
    if done := finished_at(record):
        raise UserError(f"job {record.id} already finished {done}; nothing to resume")
    if is_slurm(record):
        from launcher.jobs.slurm import jobs as slurm_jobs

        return slurm_jobs.resume(record, nproc=nproc)
    from launcher.jobs import local

    return local.resume(record, nproc=nproc)


def details(record: JobRecord) -> dict[str, Any]:
    """What the backend adds to a job's row: where it runs, and for SLURM its id, state and restarts."""
    if is_slurm(record):
        from launcher.jobs.slurm import jobs as slurm_jobs

        return {"backend": registry.SLURM, **slurm_jobs.details(record)}
    return {"backend": registry.LOCAL}


def devices(record: JobRecord) -> str:
    """The devices column: 'cpu×2', 'gpu 0,1', or for SLURM the allocation's shape."""
    if is_slurm(record):
        per_node = f"cpu×{record.nproc_per_node}" if record.cpu else f"gpu×{record.nproc_per_node}"
        return f"slurm {record.nodes}×{per_node}"
    return f"cpu×{record.nproc_per_node}" if record.cpu else "gpu " + ",".join(map(str, record.gpu_ids))
