"""One job interface over the places a job runs, as submitit's and torchx's schedulers: `Backend`.

Each place is one implementation: this host (`local.LocalBackend`, torchrun) and SLURM
(`slurm.jobs.SlurmBackend`, sbatch/srun). `backend_for(record_or_target)` picks it: a job's
record says which (JobRecord.backend); a launch target is None for this host or a SlurmSpec.
The CLI, `watch` and the TUI call the interface and never branch on the backend themselves; what
they print differently (where a job runs, what stopping it does) is said by the backend.

The implementations are named by module path in BACKENDS and imported on first use: this module
imports neither (a backend imports this one for its base class), and a third backend is its own
package plus one line there. What every backend's launch shares lives in launching.py.
"""

from __future__ import annotations

import abc
import importlib
import re
from typing import Any, ClassVar

from launcher.errors import UserError
from launcher.jobs import registry, status_words
from launcher.jobs.registry import JobRecord
from launcher import run_files

# The registration: a backend's name (JobRecord.backend) -> "module:class".
BACKENDS = {
    registry.LOCAL: "launcher.jobs.local:LocalBackend",
    registry.SLURM: "launcher.jobs.slurm.jobs:SlurmBackend",
}
_loaded: dict[str, Backend] = {}


class Backend(abc.ABC):
    """A place a job runs. Launch makes a job's record; every other call takes that record."""

    name: ClassVar[str]
    # Whether the user may ask a stop to checkpoint first (local: `stop --checkpoint`, the dialog's
    # "c"); a backend without the choice always checkpoints on stop (SLURM: scancel's SIGTERM).
    stop_checkpoint_choice: ClassVar[bool] = True
    # Whether details() change with the job's status (SLURM's state and restarts): a follower
    # re-reads them when the status changes. A backend without details has nothing to re-read.
    details_follow_status: ClassVar[bool] = False
    # How long after its sentinel ended the job's events.jsonl may still grow (SLURM's queue
    # sentinel reports timeout/preempted/requeued from the submit host); 0: not at all.
    late_events_s: ClassVar[float] = 0.0

    # -- launching ------------------------------------------------------------------------
    @abc.abstractmethod
    def plan(self, req: Any, target: Any, *, inventory: Any = None, catalog: Any = None, dump: bool = False) -> Any:
        """The Plan (lr, resolved config, checklist) of REQ on TARGET; REQ is never changed."""

    @abc.abstractmethod
    def launch(self, req: Any, target: Any, *, force: bool = False) -> tuple[JobRecord, Any]:
        """Plan, check (launching.refuse), write the run dir, start the job, register it."""

    @abc.abstractmethod
    def launched(self, record: JobRecord) -> list[str]:
        """What the CLI says after a launch: the job, where it runs, and the commands that follow it."""

    # -- a launched job -------------------------------------------------------------------
    @abc.abstractmethod
    def status(self, record: JobRecord) -> str:
        """The job's status, a word of status_words."""

    def details(self, record: JobRecord) -> dict[str, Any]:
        """What the backend adds to a job's row (SLURM: its id, state with the pending reason, restarts)."""
        return {}

    @abc.abstractmethod
    def devices(self, record: JobRecord) -> str:
        """The Jobs table's devices column: 'cpu×2', 'gpu 0,1', 'slurm 2×gpu×8'."""

    @abc.abstractmethod
    def placement(self, record: JobRecord, details: dict[str, Any] | None = None) -> str:
        """The devices and where they are, as the Monitor's summary line says them."""

    @abc.abstractmethod
    def where(self, record: JobRecord, details: dict[str, Any] | None = None) -> str:
        """Where the job runs: 'pid N', 'SLURM job N' (with DETAILS, its state too)."""

    @abc.abstractmethod
    def nothing_to_stop(self, record: JobRecord) -> str | None:
        """The line saying there is nothing to stop (the job is not running, not queued), else None.
        Raises CheckFailed for a job that runs but cannot be stopped from here."""

    @abc.abstractmethod
    def stop(self, record: JobRecord, grace: float = 30.0, *, checkpoint_wait: float | None = None) -> tuple[int, int]:
        """Stop the job: (processes signalled or SLURM jobs cancelled, how many are left)."""

    @abc.abstractmethod
    def stopped_words(self, record: JobRecord, found: int) -> str:
        """What a stop did, after 'stopped job ID: ': '3 process(es) signalled', 'SLURM job 7 cancelled'."""

    @abc.abstractmethod
    def stop_means(self, record: JobRecord, grace: float) -> str:
        """What a stop will do, for the confirmation before it."""

    @abc.abstractmethod
    def stop_resume_note(self) -> str:
        """What a later resume continues from, after a stop (said with stop_means)."""

    def resume(self, record: JobRecord, *, nproc: int | None = None) -> JobRecord:
        """Continue from the run dir's last checkpoint. Refused for a job that finished (its
        workers would load the last epoch's checkpoint and train nothing), one still active,
        and one without a checkpoint; the backend then starts it again (_resume)."""
        if done := finished_at(record):
            raise UserError(f"job {record.id} already finished {done}; nothing to resume")
        self._refuse_resume(record, nproc)
        checkpoint = record.run_path / run_files.LAST_CHECKPOINT
        if not checkpoint.is_file():
            raise UserError(f"job {record.id} has no checkpoint to resume from ({checkpoint} is missing)")
        return self._resume(record, nproc)

    @abc.abstractmethod
    def _refuse_resume(self, record: JobRecord, nproc: int | None) -> None:
        """Raise UserError where this backend cannot resume the job now (still running, ...)."""

    @abc.abstractmethod
    def _resume(self, record: JobRecord, nproc: int | None) -> JobRecord:
        """Start the job again with --resume and save its record."""


def backend_for(record_or_target: Any) -> Backend:
    """The backend of a job's record, or of a launch target (None: this host; a SlurmSpec: SLURM).
    Both say it by their `backend` attribute."""
    name = getattr(record_or_target, "backend", None) or registry.LOCAL
    if name not in _loaded:
        if name not in BACKENDS:
            raise UserError(f"unknown job backend {name!r} (known: {', '.join(sorted(BACKENDS))})")
        module, cls = BACKENDS[name].split(":")
        _loaded[name] = getattr(importlib.import_module(module), cls)()
    return _loaded[name]


def finished_at(record: JobRecord) -> str | None:
    """'at epoch 2/2' (from its last checkpoint) for a job whose training ran to its end, else
    None. Succeeded is the loop's own end: MMEngine's runner returned and the launch script
    wrote exit 0, so its last checkpoint is the schedule's last epoch."""
    if backend_for(record).status(record) != status_words.SUCCEEDED:
        return None
    try:
        last = (record.run_path / run_files.LAST_CHECKPOINT).read_text().strip()
    except OSError:
        last = ""
    match = re.fullmatch(r"epoch_(\d+)\.pth", last.rsplit("/", 1)[-1])
    if not match:  # iteration-based, or no checkpoint kept
        return "at the end of its schedule"
    return f"at epoch {match.group(1)}/{record.max_epochs or match.group(1)}"


# What the views call most, by record: one line each, through the record's backend.

def where(record: JobRecord, details: dict[str, Any] | None = None) -> str:
    return backend_for(record).where(record, details)


def stop(record: JobRecord, grace: float = 30.0, *, checkpoint_wait: float | None = None) -> tuple[int, int]:
    return backend_for(record).stop(record, grace, checkpoint_wait=checkpoint_wait)


def resume(record: JobRecord, *, nproc: int | None = None) -> JobRecord:
    return backend_for(record).resume(record, nproc=nproc)


def details(record: JobRecord) -> dict[str, Any]:
    """A job's row extras: its backend's name, and what that backend adds."""
    return {"backend": record.backend, **backend_for(record).details(record)}


def devices(record: JobRecord) -> str:
    return backend_for(record).devices(record)
