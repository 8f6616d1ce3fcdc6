"""Removing a finished job: its registry entry, and its run dir when frcnn-tui made it.

Shared by `frcnn-tui rm` and the Jobs screen (which asks first). A job that runs or waits
is refused (stop it first). A run dir is removed only when it is frcnn-tui's own (under the
state dir's runs/) and no other job uses it: a user's --work-dir holds what they chose to
keep there, and is left as it is, like everything with --keep-files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from launcher import paths
from launcher.errors import CheckFailed
from launcher.jobs import job_status, registry, status_words
from launcher.jobs.registry import JobRecord

FILES_REMOVED, KEPT_ASKED, KEPT_USERS, KEPT_SHARED = "removed", "kept (--keep-files)", "kept (your --work-dir)", \
    "kept (another job uses it)"


@dataclass
class Removed:
    id: str
    name: str
    run_dir: str
    files: str  # FILES_REMOVED, or why they were kept

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "run_dir": self.run_dir, "files": self.files}


def refusal(record: JobRecord, status: str) -> str | None:
    """Why this job may not be removed now, or None."""
    if status in status_words.ACTIVE or status == status_words.UNKNOWN:
        return f"job {record.id} is {status}: stop it first (frcnn-tui stop {record.id})"
    return None


def _own_run_dir(run_dir: Path) -> bool:
    try:
        return run_dir.resolve().is_relative_to(paths.runs_dir().resolve()) and \
            run_dir.resolve() != paths.runs_dir().resolve()
    except OSError:
        return False


def files_fate(record: JobRecord, *, keep_files: bool = False) -> str:
    """What removing the job does to its run dir: FILES_REMOVED, or why they are kept."""
    run_dir = record.run_path
    if keep_files:
        return KEPT_ASKED
    if not _own_run_dir(run_dir):
        return KEPT_USERS
    others = [r for r in registry.load_all(warn=lambda _msg: None) if r.id != record.id]
    if any(r.run_path.resolve() == run_dir.resolve() for r in others):
        return KEPT_SHARED
    return FILES_REMOVED


def remove(record: JobRecord, *, keep_files: bool = False) -> Removed:
    """Removes the job's registry entry, then (see the module's doc) its run dir.
    Raises CheckFailed for a job that runs or waits, checked again under the registry's lock."""
    with registry.locked():  # a resume spawns and re-registers under it: read the entry as it is now
        record = registry.load(record.id)
        status = job_status.status(record)
        why = refusal(record, status)
        if why:
            raise CheckFailed(why)
        files = files_fate(record, keep_files=keep_files)  # under the lock: no job registers the dir meanwhile
        (paths.jobs_dir() / f"{registry.validate_name(record.id)}.json").unlink(missing_ok=True)
    run_dir = record.run_path
    if files == FILES_REMOVED:
        try:
            shutil.rmtree(run_dir)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CheckFailed(f"removed job {record.id} from the list, but not all of {run_dir}: "
                              f"{exc.strerror or exc}") from None
    return Removed(record.id, record.name, record.run_dir, files)
