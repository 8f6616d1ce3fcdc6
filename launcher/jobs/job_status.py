"""A job's status (a word of status_words), whichever backend runs it: its backend's rule.

A job on this host (or another host sharing the run dir) is judged by its processes and the exit
file launch.sh writes (local.status); a SLURM job by SLURM (slurm.state). The views ask here.
"""

from __future__ import annotations

from launcher.jobs import backends
from launcher.jobs.registry import JobRecord

__all__ = ["status"]


def status(record: JobRecord) -> str:
    return backends.backend_for(record).status(record)
