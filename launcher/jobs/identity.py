"""Which processes are provably a job's: a marker given at launch, the leader's create time, the host.

A pid, a pgid and even a create-time window can all come to belong to something else
(pid reuse, a stale record, a registry on a home directory shared by several hosts).
So every process of a job carries FRCNN_TUI_JOB_ID=<job id> in its environment: the
leader gets it from the spawn, launch.sh exports it again (a hand-run `bash launch.sh`
is marked too), and torchrun, its workers and their dataloader workers inherit it.
It is read back from /proc through psutil. Nothing is signalled, counted as running or
as holding GPUs unless it carries the marker, on the host the job was recorded on.
"""

from __future__ import annotations

import os
from typing import Any

import psutil

MARKER_ENV = "FRCNN_TUI_JOB_ID"
# psutil derives create times from boot time + clock ticks: the same process reads the same
# value, a reused pid reads another one.
CREATE_TIME_TOLERANCE_S = 0.05


def this_host() -> str:
    return os.uname().nodename


def marker_env(job_id: str) -> dict[str, str]:
    """The environment entry that marks every process of JOB_ID."""
    return {MARKER_ENV: job_id}


def is_local(record: Any) -> bool:
    return record.host == this_host()


def carries_marker(proc: psutil.Process, job_id: str) -> bool:
    """True only when PROC's environment names JOB_ID (unreadable -> not provably the job's)."""
    try:
        return proc.environ().get(MARKER_ENV) == job_id
    except (psutil.Error, OSError):
        return False


def is_alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a dead process waiting to be reaped is gone for our purposes)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def leader(record: Any) -> psutil.Process | None:
    """The job's recorded leader process, if it is still exactly that process: on this host,
    the recorded pid with the recorded create time, alive, and carrying the job's marker."""
    if not is_local(record):
        return None
    try:
        proc = psutil.Process(record.pid)
        if abs(proc.create_time() - record.create_time) > CREATE_TIME_TOLERANCE_S:
            return None  # the pid was reused
    except (psutil.Error, ValueError, OverflowError):
        return None
    return proc if is_alive(proc) and carries_marker(proc, record.id) else None


def marked_processes(job_id: str, *, created_since: float | None = None) -> list[psutil.Process]:
    """Live processes of this host that carry JOB_ID's marker (optionally created no earlier
    than CREATED_SINCE, less the tolerance: a job's processes are never older than its leader)."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():  # frcnn-tui run from inside a job's shell inherits its marker
            continue
        try:
            if created_since is not None and proc.create_time() < created_since - CREATE_TIME_TOLERANCE_S:
                continue
        except psutil.Error:
            continue
        if carries_marker(proc, job_id) and is_alive(proc):
            found.append(proc)
    return found


def job_processes(record: Any) -> list[psutil.Process]:
    """Every live process of the job's current run: marked with its id, on its host, and not
    older than its leader. Whatever now holds the recorded pid or pgid without the marker is
    someone else's and is never listed."""
    if not is_local(record):
        return []
    return marked_processes(record.id, created_since=record.create_time)


def signal_group_if_proven(record: Any, sig: int) -> bool:
    """killpg the job's group only while its leader is proven the job's (a live group keeps
    its leader's pid as its id, so the group is then the job's too)."""
    if record.pgid != record.pid or leader(record) is None:
        return False
    try:
        os.killpg(record.pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def elsewhere_message(record: Any) -> str:
    return (f"job {record.id} was launched on host {record.host}, not on this one ({this_host()}): "
            f"nothing is signalled from here; run the command on {record.host}")
