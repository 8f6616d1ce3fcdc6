"""What every backend's launch shares, written once: the opening checks (the job's name, a
--work-dir holding another job's files), the checklist's refusals, the stale files a new
attempt clears, and the record's fields a plan decides (max_epochs).

Each backend (backends.Backend) calls these in its own launch and resume; only what differs
(spawning torchrun, or sbatch) is its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from launcher.errors import CheckFailed, UserError
from launcher.jobs import backends, registry, status_words
from launcher.planning.checklist import FAIL, WAITING
from launcher import run_files

# What frcnn-tui writes into a run dir: a folder holding any of these is another job's.
JOB_FILES = (run_files.PLAN, run_files.LAUNCH_SCRIPT, run_files.CONFIG, run_files.STDOUT, run_files.EXIT_STATUS,
             run_files.LAST_CHECKPOINT)
# What an earlier attempt in the run dir leaves that would misreport the next one: its exit
# status (the job would read as ended), its stop request (as stopped), SLURM's requeue note.
STALE_FILES = (run_files.EXIT_STATUS, run_files.STOP_REQUESTED, run_files.REQUEUE)


@dataclass(frozen=True)
class Opening:
    """A launch's request, checked before anything is written."""

    name: str | None  # the job's own name (None: the preset's)
    work_dir: Path | None  # --work-dir, absolute (None: a fresh run dir under the state dir)
    made_here: bool  # whether this launch creates the run dir (a refused one then removes it)


def open_launch(req: Any, *, force: bool) -> Opening:
    """The checks before a launch writes anything: a valid name, a usable --work-dir."""
    name = registry.validate_name(req.name) if req.name else None
    work_dir = Path(req.work_dir).expanduser().absolute() if req.work_dir else None
    if work_dir is not None:
        check_work_dir(work_dir, force=force)
    return Opening(name, work_dir, made_here=work_dir is None or not work_dir.exists())


def check_work_dir(work_dir: Path, *, force: bool) -> None:
    """Refuse a --work-dir that holds another job's files: launch would overwrite its
    config.py, plan.json and launch.sh. A live job's folder always; a finished one's unless forced."""
    if work_dir.exists() and not work_dir.is_dir():
        raise UserError(f"--work-dir {work_dir} exists and is not a folder")
    # Resolved on both sides: a symlink or a '..' must not hide that two paths are one folder.
    owners = [r for r in registry.load_all() if Path(r.run_dir).expanduser().resolve() == work_dir.resolve()]
    live = [r for r in owners if backends.backend_for(r).status(r) == status_words.RUNNING]
    if live:
        raise UserError(f"--work-dir {work_dir} is the run dir of running job {live[0].id}; pick another folder")
    found = [n for n in JOB_FILES if (work_dir / n).exists()]
    if (owners or found) and not force:
        what = f"job {owners[-1].id}'s run dir" if owners else "another job's files (" + ", ".join(found) + ")"
        raise UserError(f"--work-dir {work_dir} holds {what}; pick another folder, or --force to reuse it")


def refuse(plan: Any, *, force: bool) -> None:
    """The checklist's verdict on a launch: a check still waiting (no training stack yet) refuses
    it even forced; failing ones unless forced. Then the resolved config must be there."""
    waiting = [c for c in plan.checks if c.status == WAITING]
    if waiting:  # not even with --force: there is no training stack to run yet
        raise CheckFailed(f"launch refused: {waiting[0].detail}; {waiting[0].hint}")
    failing = [c for c in plan.checks if c.status == FAIL]
    if failing and not force:
        raise CheckFailed("launch refused, checklist fails: " + "; ".join(f"{c.id}: {c.detail}" for c in failing)
                          + " (fix it, or --force)")
    if not plan.config_file.is_file():
        raise CheckFailed(f"the resolved config was not written to {plan.config_file}")


def clear_stale(run_dir: Path, names: Iterable[str] = STALE_FILES) -> None:
    for stale in names:
        (run_dir / stale).unlink(missing_ok=True)


def max_epochs(plan: Any) -> int | None:
    """The epochs the job's record promises: the resolved config's when it was resolved (None for
    an iteration-based schedule, whatever the preset says), else the preset's."""
    return plan.resolved.get("max_epochs") if plan.resolved else plan.preset.epochs
