"""A job's status (a word of status_words), whichever backend runs it.

A job on this host (or another host sharing the run dir) is judged by its processes and the exit
file launch.sh writes; a SLURM job by SLURM (launcher.jobs.slurm.state). This sits above the
registry (which only stores records) and below the launchers, which ask it about other jobs (a
running job's work dir is refused) without importing one another.
"""

from __future__ import annotations

from launcher import run_files
from launcher.jobs import identity, registry
from launcher.jobs.registry import JobRecord
from launcher.jobs.slurm import state as slurm_state
from launcher.jobs.status_words import FAILED, RUNNING, STOPPED, SUCCEEDED

__all__ = ["status"]


def status(record: JobRecord) -> str:
    if record.backend == registry.SLURM:
        return slurm_state.status(record)  # asks the cluster
    if identity.leader(record) is not None:  # alive and provably the job's
        return RUNNING
    code = run_files.read_exit_status(record.run_path)
    if code is None and not identity.is_local(record):
        # Another host's job: its processes cannot be seen from here, only the exit file
        # launch.sh writes in the (shared) run dir, which is not there yet.
        return RUNNING
    stop_requested = (record.run_path / registry.STOP_FILE).exists()
    if code == 0:
        return SUCCEEDED
    if stop_requested:
        return STOPPED
    return FAILED
