"""The job registry: one JSON file per job under <state>/jobs, written atomically.

Status is derived, never trusted: a job is running while its recorded pid exists
with the recorded create time (a reused pid has another one); otherwise the
exit-status file its launch.sh writes decides. Several frcnn-tui processes may
touch the registry at once: writes go to a temp file then os.replace, and
read-modify-write sections hold an flock on <state>/jobs/.lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import psutil

from launcher import paths
from launcher.errors import UserError

RUNNING, SUCCEEDED, FAILED, STOPPED = "running", "succeeded", "failed", "stopped"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EXIT_FILE = "exit_status"
STOP_FILE = "stop_requested"


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
    host: str = field(default_factory=lambda: os.uname().nodename)

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


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save(record: JobRecord) -> None:
    write_atomic(_job_file(record.id), json.dumps(record.to_dict(), indent=2))


def _from_file(path: Path) -> JobRecord:
    data = json.loads(path.read_text())
    known = JobRecord.__dataclass_fields__
    return JobRecord(**{k: v for k, v in data.items() if k in known})


def _quarantine(path: Path, error: Exception) -> str:
    """Move a corrupt entry aside (kept, never deleted) so it is reported exactly once."""
    corrupt = paths.jobs_dir() / "corrupt"
    corrupt.mkdir(exist_ok=True, mode=0o700)
    target = corrupt / f"{path.name}.{int(time.time())}"
    with contextlib.suppress(OSError):
        os.replace(path, target)
    return f"skipped corrupt job entry {path.name} ({type(error).__name__}: {str(error)[:80]}); moved to {target}"


def load_all(warn: Any = None) -> list[JobRecord]:
    """Every readable job, oldest first. A corrupt entry is reported once (through
    `warn`, default stderr) and moved to jobs/corrupt/; the others stay listed."""
    warn = warn or (lambda msg: print(f"frcnn-tui: warning: {msg}", file=sys.stderr))
    records = []
    for path in sorted(paths.jobs_dir().glob("*.json")):
        try:
            records.append(_from_file(path))
        except (OSError, ValueError, TypeError) as exc:
            warn(_quarantine(path, exc))
    records.sort(key=lambda r: r.started_at)
    return records


def load(job_id: str) -> JobRecord:
    """One job by its exact id, reading only its own file."""
    try:
        return _from_file(_job_file(job_id))
    except FileNotFoundError:
        raise UserError(f"no job '{job_id}' (frcnn-tui jobs lists them)") from None
    except (OSError, ValueError, TypeError) as exc:
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


def process_alive(pid: int, create_time: float) -> bool:
    try:
        proc = psutil.Process(pid)
        # A reused pid belongs to a process created at another time.
        if abs(proc.create_time() - create_time) > 0.05:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def read_exit_status(run_dir: Path) -> int | None:
    try:
        return int((run_dir / EXIT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def status(record: JobRecord) -> str:
    if process_alive(record.pid, record.create_time):
        return RUNNING
    stop_requested = (record.run_path / STOP_FILE).exists()
    code = read_exit_status(record.run_path)
    if code == 0:
        return SUCCEEDED
    if stop_requested:
        return STOPPED
    return FAILED


def exit_code(record: JobRecord) -> int | None:
    return read_exit_status(record.run_path)


def job_processes(record: JobRecord) -> list[psutil.Process]:
    """Every live process of a job: its process group, plus any descendant that left it."""
    procs: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid"]):
        try:
            # The create-time bound keeps a later, unrelated group that reused the pgid out.
            if os.getpgid(proc.pid) == record.pgid and proc.create_time() >= record.create_time - 1:
                procs[proc.pid] = proc
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    if process_alive(record.pid, record.create_time):
        try:
            for child in psutil.Process(record.pid).children(recursive=True):
                procs[child.pid] = child
        except psutil.Error:
            pass
    alive = []
    for proc in procs.values():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.Error:
            continue
    return alive
