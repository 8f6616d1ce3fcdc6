"""The SLURM commands frcnn-tui runs, and what their output means. Nothing else calls them.

Every call is a short subprocess with a timeout; a failure becomes a value (None, an empty
list) or one UserError line, never a traceback. A job's state comes from scontrol (pending,
running, and finished jobs for MinJobAge, 300 s by default), then from sacct where
accounting is on; with neither, the caller falls back to the files the script writes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from launcher.errors import CheckFailed, UserError

TIMEOUT_S = 20


def available(command: str = "sbatch") -> bool:
    return shutil.which(command) is not None


def require_sbatch() -> None:
    if not available("sbatch"):
        raise UserError("sbatch is not on PATH: this machine is not a SLURM submit host "
                        "(scripts/slurm_local.sh sets up a one-machine cluster to try it)")


def _run(args: list[str], timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess | None:
    """ARGS run with no stdin; None when the command is missing or hangs (controller down)."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _last_line(proc: subprocess.CompletedProcess | None, default: str) -> str:
    if proc is None:
        return default
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return lines[-1].strip() if lines else default


def submit(script: str, args: list[str] = (), *, test_only: bool = False) -> str:
    """sbatch SCRIPT [ARGS to the script]; returns the job id (or, with test_only, sbatch's
    answer). A refusal is a CheckFailed with sbatch's own last line."""
    require_sbatch()
    cmd = ["sbatch", "--test-only", script, *args] if test_only else ["sbatch", "--parsable", script, *args]
    proc = _run(cmd, timeout=60)
    if proc is None or proc.returncode != 0:
        raise CheckFailed(f"sbatch refused the job: {_last_line(proc, 'sbatch did not answer')}")
    if test_only:
        return _last_line(proc, "")
    # --parsable prints "ID" or "ID;CLUSTER".
    job_id = proc.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise CheckFailed(f"sbatch answered {proc.stdout.strip()!r}, not a job id")
    return job_id


@dataclass
class JobInfo:
    """One job as SLURM reports it. state is SLURM's (PENDING, RUNNING, COMPLETED, ...)."""

    state: str
    reason: str | None = None
    restarts: int = 0
    exit_code: str | None = None
    nodes: str | None = None
    source: str = "scontrol"
    submitted: str | None = None  # SubmitTime, SLURM's local ISO time (a requeue submits again)
    expected_start: str | None = None  # a pending job's start as SLURM's scheduler expects it (squeue --start)


def _field(line: str, key: str) -> str | None:
    match = re.search(rf"(?:^|\s){key}=(\S*)", line)
    return match.group(1) if match else None


def _reason(value: str | None) -> str | None:
    return None if value in (None, "", "None", "(null)") else value


UNREACHABLE = "UNREACHABLE"  # not a SLURM state: scontrol did not answer (controller down, no scontrol)


def job_info(job_id: str) -> JobInfo | None:
    """The job's state from scontrol, else sacct (accounting); None when SLURM answers that it no
    longer knows the job; state UNREACHABLE (reason: scontrol's error) when it did not answer."""
    proc = _run(["scontrol", "show", "job", "-o", str(job_id)])
    if proc is None or (proc.returncode != 0 and "Invalid job id" not in (proc.stderr or "")):
        return JobInfo(state=UNREACHABLE, reason=_last_line(proc, "scontrol did not answer"), source="none")
    if proc.returncode == 0 and (line := proc.stdout.strip()):
        restarts = _field(line, "Restarts") or "0"
        job_state = (_field(line, "JobState") or "UNKNOWN").upper()
        return JobInfo(state=job_state, reason=_reason(_field(line, "Reason")),
                       restarts=int(restarts) if restarts.isdigit() else 0, exit_code=_field(line, "ExitCode"),
                       nodes=_reason(_field(line, "NodeList")), submitted=_reason(_field(line, "SubmitTime")),
                       expected_start=expected_start(job_id) if job_state == "PENDING" else None)
    # Purged from the controller (MinJobAge): only accounting still has it, if it is on.
    # With accounting off, sacct prints an error and nothing else.
    proc = _run(["sacct", "-n", "-X", "-P", "-j", str(job_id), "-o", "State,ExitCode,Reason,NodeList"])
    if proc is None or proc.returncode != 0:
        return None
    for row in proc.stdout.strip().splitlines():
        cols = row.split("|")
        if len(cols) >= 2 and cols[0].strip():
            # "CANCELLED by 0" -> CANCELLED
            return JobInfo(state=cols[0].split()[0].upper(), exit_code=cols[1] or None,
                           reason=_reason(cols[2] if len(cols) > 2 else None),
                           nodes=_reason(cols[3] if len(cols) > 3 else None), source="sacct")
    return None


def expected_start(job_id: str) -> str | None:
    """When SLURM's scheduler expects a pending job to start (`squeue --start`, its local ISO time),
    the question everyone asks of a queued job; None when it has no estimate (N/A: held, or
    the backfill scheduler has not looked at it yet) or squeue does not answer."""
    proc = _run(["squeue", "--start", "-h", "-j", str(job_id), "-o", "%S"])
    if proc is None or proc.returncode != 0:
        return None
    value = proc.stdout.strip()
    return None if value.upper() in ("", "N/A", "NONE", "UNKNOWN", "(NULL)") else value


def in_queue(job_id: str) -> bool | None:
    """Is the job still in squeue (pending, running or completing)? None if squeue fails.
    A job SLURM has forgotten makes squeue fail with 'Invalid job id': that is out of the queue."""
    proc = _run(["squeue", "-h", "-j", str(job_id), "-o", "%T"])
    if proc is None:
        return None
    if proc.returncode != 0:
        return False if "Invalid job id" in (proc.stderr or "") else None
    return bool(proc.stdout.strip())


def cancel(job_id: str) -> None:
    proc = _run(["scancel", str(job_id)])
    if proc is None or proc.returncode != 0:
        raise CheckFailed(f"scancel {job_id} failed: {_last_line(proc, 'scancel did not answer')}")


@dataclass
class Partition:
    name: str
    state: str
    max_time_min: int | None  # None: no limit
    default: bool = False
    total_nodes: int = 0
    # Per node: (name, CPUs, GPUs from its GRES).
    nodes: list[tuple[str, int, int]] = field(default_factory=list)


def gpus_in_gres(gres: str) -> int:
    """GPUs in one node's sinfo GRES, e.g. 'gpu:2', 'gpu:a100:4(S:0-1)', 'gpu:2,shard:8' -> 2, 4, 2."""
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def parse_time_minutes(text: str) -> int | None:
    """SLURM's time formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) in whole minutes, rounded up;
    None for no limit (INFINITE, UNLIMITED). ValueError for anything else."""
    text = text.strip()
    if text.upper() in ("INFINITE", "UNLIMITED", "NONE"):
        return None
    days, hms = 0, text
    if "-" in text:
        day_text, _, hms = text.partition("-")
        if not day_text.isdigit():
            raise ValueError(text)
        days = int(day_text)
    parts = hms.split(":") if hms else []
    if not parts or len(parts) > 3 or not all(p.isdigit() for p in parts):
        raise ValueError(text)
    nums = [int(p) for p in parts]
    if "-" in text:  # D-H, D-H:M, D-H:M:S
        h, m, s = (nums + [0, 0])[:3]
    elif len(nums) == 1:  # M
        h, m, s = 0, nums[0], 0
    elif len(nums) == 2:  # M:S
        h, m, s = 0, nums[0], nums[1]
    else:  # H:M:S
        h, m, s = nums
    return days * 1440 + h * 60 + m + (1 if s else 0)


def partitions() -> dict[str, Partition] | None:
    """Every partition with its nodes (sinfo), or None when sinfo cannot answer."""
    proc = _run(["sinfo", "-h", "-N", "-o", "%R|%a|%l|%N|%c|%G"])
    if proc is None or proc.returncode != 0:
        return None
    found: dict[str, Partition] = {}
    for row in proc.stdout.strip().splitlines():
        cols = row.split("|")
        if len(cols) != 6:
            continue
        name, avail, limit, node, cpus, gres = cols
        default = name.endswith("*")
        name = name.rstrip("*")
        try:
            max_time = parse_time_minutes(limit)
        except ValueError:
            max_time = None
        part = found.setdefault(name, Partition(name=name, state=avail, max_time_min=max_time, default=default))
        part.nodes.append((node, int(cpus) if cpus.isdigit() else 0, gpus_in_gres(gres)))
        part.total_nodes = len(part.nodes)
    return found


def partition_names() -> list[str]:
    """Partition names, the default first (for the Plan screen); empty when sinfo cannot answer."""
    parts = partitions() or {}
    return sorted(parts, key=lambda n: (not parts[n].default, n))


def preempt_mode(partition: str) -> tuple[str, str] | None:
    """(PreemptMode, where it is set) for PARTITION: the partition's own, else the cluster's
    (`scontrol show partition` / `show config`); None when scontrol does not answer."""
    proc = _run(["scontrol", "show", "partition", partition])
    if proc is not None and proc.returncode == 0:
        match = re.search(r"\bPreemptMode=(\S+)", proc.stdout)
        if match and match.group(1).upper() not in ("", "(NULL)"):
            return match.group(1).upper(), f"partition {partition}"
    proc = _run(["scontrol", "show", "config"])
    if proc is None or proc.returncode != 0:
        return None
    match = re.search(r"^PreemptMode\s*=\s*(\S+)", proc.stdout, re.M)
    return (match.group(1).upper(), "the cluster") if match else None
