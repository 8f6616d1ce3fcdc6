"""The words a job's status is said in, for every backend and every view.

They have their own module, with no imports, so that the registry (storage), each backend's status
rule (local processes, SLURM's states) and the views share them without importing one another.
"""

from __future__ import annotations

__all__ = ["RUNNING", "SUCCEEDED", "FAILED", "STOPPED", "PENDING", "UNKNOWN", "ACTIVE"]

RUNNING, SUCCEEDED, FAILED, STOPPED = "running", "succeeded", "failed", "stopped"
# SLURM jobs only: queued (or requeued); and SLURM unreachable with no exit file to read.
PENDING, UNKNOWN = "pending", "unknown"
ACTIVE = frozenset({RUNNING, PENDING})  # still holds (or waits for) resources
