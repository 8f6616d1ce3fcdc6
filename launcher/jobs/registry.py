"""The job registry: one JSON file per job under <state>/jobs, written atomically. Storage only:
records, their names and the lock; a job's status is job_status.py's, its processes identity.py's.

Several frcnn-tui processes may touch the registry at once: writes go to a temp file then os.replace, and
read-modify-write sections hold an flock on <state>/jobs/.lock.
"""

from __future__ import annotations

import contextlib
import functools
import fcntl
import json
import os
import re
import sys
import time
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from launcher import paths
from launcher.paths import write_atomic  # registry.write_atomic: callers keep the name
from launcher.errors import UserError
from launcher.jobs import identity
from launcher.monitor.values import finite
from launcher import run_files

LOCAL, SLURM = "local", "slurm"  # where a job runs: JobRecord.backend
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EXIT_FILE, STOP_FILE = run_files.EXIT_STATUS, run_files.STOP_REQUESTED


@dataclass
class JobRecord:
    id: str
    name: str
    preset: str
    run_dir: str
    gpu_ids: list[int]
    cpu: bool
    nproc_per_node: int
    nodes: int
    pid: int
    pgid: int
    create_time: float
    started_at: float
    port: int
    command: list[str]
    python: str
    reference_ap: float | None = None
    max_epochs: int | None = None
    resumes: int = 0
    host: str = field(default_factory=identity.this_host)
    backend: str = LOCAL
    slurm_job_id: str | None = None  # backend SLURM: the id sbatch gave (a resume gets a new one)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir)


def validate_name(name: str) -> str:
    # Names become file names under the state dir: no separators, no dot-dot, no hidden files.
    if not NAME_RE.match(name) or name in (".", ".."):
        raise UserError(f"invalid job name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                        f"starting with a letter or digit")
    return name


def _job_file(job_id: str) -> Path:
    return paths.jobs_dir() / f"{validate_name(job_id)}.json"


@contextlib.contextmanager
def locked() -> Iterator[None]:
    with open(paths.jobs_dir() / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def save(record: JobRecord) -> None:
    write_atomic(_job_file(record.id), json.dumps(record.to_dict(), indent=2))


def _matches(value: Any, hint: Any) -> bool:
    """Does a JSON value fit a JobRecord field's annotation (int, float, str, bool, list[X], X | None)?"""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if hint is float:  # JSON writes 3.0 as 3
        return finite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


@functools.cache
def _record_hints() -> dict[str, Any]:
    # Resolving the annotations is most of a load's cost, and the Monitor loads its job every second.
    return typing.get_type_hints(JobRecord)


def _from_file(path: Path) -> JobRecord:
    return _record(_checked_fields(path))


def _checked_fields(path: Path) -> dict[str, Any]:
    """The entry's fields, each of its declared type."""
    try:
        data = json.loads(path.read_text())
    except RecursionError:  # "[[[[…": a ValueError like any other bad JSON
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    hints = _record_hints()
    # A wrong type (say "pid": "12") would only fail later, deep in status or a screen:
    # refuse it here so the entry is quarantined like corrupt JSON.
    for key, value in data.items():
        if key in hints and not _matches(value, hints[key]):
            raise TypeError(f"field '{key}' has the wrong type: {value!r}"[:120])
    validate_name(data.get("id", ""))
    return {k: v for k, v in data.items() if k in hints}


def _record(fields: dict[str, Any]) -> JobRecord:
    # Lists copied: a caller changing its record must not change kept fields (load_all's KEPT).
    return JobRecord(**{k: list(v) if isinstance(v, list) else v for k, v in fields.items()})


def entry_stamp(path: str | os.PathLike) -> list[int]:
    """What says an entry's file is the one read before (summary_index keeps it)."""
    st = os.stat(path)  # an entry is only ever replaced by rename: a new inode each write
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def _quarantine(path: Path, error: Exception) -> str:
    """Move a corrupt entry aside (kept, never deleted) so it is reported exactly once."""
    corrupt = paths.jobs_dir() / "corrupt"
    corrupt.mkdir(exist_ok=True, mode=0o700)
    target = corrupt / f"{path.name}.{time.time_ns()}"  # unique: never overwrites an earlier one
    with contextlib.suppress(OSError):
        os.replace(path, target)
    return f"skipped corrupt job entry {path.name} ({type(error).__name__}: {str(error)[:80]}); moved to {target}"


def _kept_record(entry: Any, stamp: list[int]) -> JobRecord | None:
    """The kept fields' record while the entry's file is the one they were read from (a kept
    index is a cache: anything odd in it is read from the file again, never quarantined)."""
    if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == stamp and isinstance(entry[1], dict)):
        return None
    try:
        return _record(entry[1])
    except TypeError:
        return None


def load_all(warn: Any = None, kept: dict[str, list] | None = None) -> list[JobRecord]:
    """Every readable job, oldest first. A corrupt entry is reported once (through
    `warn`, default stderr) and moved to jobs/corrupt/; the others stay listed.
    KEPT (summary_index.JobIndex's, read and updated here): entry id -> [its file's stamp taken
    before the read, its fields], so an entry unchanged since is not opened and parsed again
    (most of listing ten thousand jobs)."""
    warn = warn or (lambda msg: print(f"frcnn-tui: warning: {msg}", file=sys.stderr))
    records, seen = [], set()
    jobs_dir = paths.jobs_dir()
    # Names and strings, not a Path per entry: with ten thousand jobs the Paths alone cost ~0.1 s.
    with os.scandir(jobs_dir) as entries:
        names = sorted(e.name for e in entries if e.name.endswith(".json"))
    for name in names:
        job_id, file = name[:-5], os.path.join(jobs_dir, name)
        try:
            if kept is None:
                records.append(_from_file(Path(file)))
                continue
            stamp = entry_stamp(file)
            record = _kept_record(kept.get(job_id), stamp)
            if record is None:
                fields = _checked_fields(Path(file))
                record, kept[job_id] = _record(fields), [stamp, fields]
            records.append(record)
            seen.add(job_id)
        except (OSError, ValueError, TypeError, UserError) as exc:
            warn(_quarantine(Path(file), exc))
    if kept is not None:
        for gone in kept.keys() - seen:
            del kept[gone]
    records.sort(key=lambda r: r.started_at)
    return records


def load(job_id: str) -> JobRecord:
    """One job by its exact id, reading only its own file."""
    try:
        return _from_file(_job_file(job_id))
    except FileNotFoundError:
        raise UserError(f"no job '{job_id}' (frcnn-tui jobs lists them)") from None
    except (OSError, ValueError, TypeError, UserError) as exc:
        raise UserError(f"job '{job_id}' cannot be read: {exc}") from None


def find(ref: str) -> JobRecord:
    """A job by id, by name (latest with that name), or by a unique id prefix."""
    records = load_all()
    exact = [r for r in records if r.id == ref] or [r for r in records if r.name == ref]
    if exact:
        return exact[-1]
    prefixed = [r for r in records if r.id.startswith(ref)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise UserError(f"job '{ref}' is ambiguous: " + ", ".join(r.id for r in prefixed))
    raise UserError(f"no job '{ref}' (frcnn-tui jobs lists them)")
