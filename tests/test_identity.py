"""Process identity: only processes carrying the job's marker, on the job's host, are ever the job's.

Real processes throughout (sleep, bash); the registry entries are written as a stale
record or another host's record would look after pid reuse or on a shared home.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from launcher import paths
from launcher.jobs import identity, job_status, registry, status_words
from launcher.jobs import local as jobs
from launcher.jobs.registry import JobRecord

REPO = Path(__file__).resolve().parent.parent


def detached(args: list[str], job_id: str | None = None) -> subprocess.Popen:
    """A process in its own session, as `setsid CMD` starts it; marked as JOB_ID's when given."""
    env = {k: v for k, v in os.environ.items() if k != identity.MARKER_ENV}
    env.update(identity.marker_env(job_id) if job_id else {})
    return subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)


@pytest.fixture
def reap():
    procs: list[subprocess.Popen] = []
    yield procs.append
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def entry(job_id: str, name: str, pid: int, create_time: float, *, gpu_ids=(), host: str | None = None,
          exit_status: int | None = None) -> JobRecord:
    run_dir = paths.runs_dir() / job_id
    run_dir.mkdir(parents=True, exist_ok=True)
    if exit_status is not None:
        (run_dir / registry.EXIT_FILE).write_text(f"{exit_status}\n")
    record = JobRecord(id=job_id, name=name, preset="demo-cpu", run_dir=str(run_dir), gpu_ids=list(gpu_ids),
                       cpu=not gpu_ids, nproc_per_node=1, nodes=1, pid=pid, pgid=pid, create_time=create_time,
                       started_at=time.time() - 3600, port=29500, command=["torchrun"], python=sys.executable,
                       **({"host": host} if host else {}))
    registry.save(record)
    return record


@pytest.mark.parametrize("age_s", [3600.0, 0.0], ids=["older-create-time", "same-create-time-unmarked"])
def test_a_stale_record_never_signals_the_process_that_now_holds_its_pid(cli, reap, age_s):
    """The issue's reproduction: `setsid sleep 1000`, and a finished job's entry (exit_status 0)
    whose pid and pgid are that sleep's, created an hour earlier as after pid reuse. Also the
    harder case of a matching create time: the sleep lacks the job's marker either way."""
    sleeper = detached(["sleep", "1000"])
    reap(sleeper)
    created = psutil.Process(sleeper.pid).create_time()
    entry("20261130-100000-sta1", "stale", sleeper.pid, created - age_s, gpu_ids=[0], exit_status=0)

    listed = cli("jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)["jobs"]
    assert row["status"] == "succeeded"
    stopped = cli("stop", "stale")
    assert stopped.returncode == 0, stopped.stderr
    assert "is not running (succeeded" in stopped.stdout and "nothing was signalled" in stopped.stdout
    assert f"pid {sleeper.pid} now belongs to another process" in stopped.stdout
    time.sleep(0.2)
    assert sleeper.poll() is None, "the unrelated process was killed"
    assert jobs.gpu_conflicts([0]) == []


def test_a_job_recorded_on_another_host_is_never_signalled_here(cli, reap):
    job_id = "20261130-100000-remo"
    # Even a process here that carries the job's marker is not that host's job.
    marked = detached(["sleep", "1000"], job_id)
    reap(marked)
    record = entry(job_id, "remote", marked.pid, psutil.Process(marked.pid).create_time(), gpu_ids=[0],
                   host="gpu-node-7")
    assert job_status.status(record) == status_words.RUNNING  # no exit file yet in the shared run dir
    [row] = json.loads(cli("jobs", "--json").stdout)["jobs"]
    assert row["host"] == "gpu-node-7" and row["status"] == "running"
    assert identity.job_processes(record) == [] and jobs.gpu_conflicts([0]) == []
    for command in (["stop", "remote"], ["resume", "remote"]):
        result = cli(*command)
        assert result.returncode in (1, 2), (command, result.stdout, result.stderr)
        assert "host gpu-node-7" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert marked.poll() is None
    (record.run_path / registry.EXIT_FILE).write_text("0\n")  # it ended over there
    done = cli("stop", "remote")
    assert done.returncode == 0 and "not running (succeeded, on host gpu-node-7)" in done.stdout
    assert marked.poll() is None


def test_stop_signals_every_marked_process_and_nothing_else(cli, reap):
    job_id = "20261130-100000-mark"
    # The leader's group, plus a worker that left it (setsid) as torchrun's children may.
    leader = detached(["bash", "-c", "setsid sleep 300 & sleep 300 & wait"], job_id)
    reap(leader)
    bystander = detached(["sleep", "300"])  # created after the job, same user, no marker
    reap(bystander)
    record = entry(job_id, "marked", leader.pid, psutil.Process(leader.pid).create_time(), gpu_ids=[0])
    deadline = time.monotonic() + 10
    while len(procs := identity.job_processes(record)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(procs) == 3 and job_status.status(record) == status_words.RUNNING
    assert jobs.gpu_conflicts([0, 1]) == [f"GPU 0 held by running job {job_id} (marked)"]
    stopped = cli("stop", "marked", "--grace", "5")
    assert stopped.returncode == 0, stopped.stderr
    assert "3 process(es) signalled, 0 left" in stopped.stdout
    assert identity.job_processes(record) == [] and not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                                           for p in procs)
    assert bystander.poll() is None


def test_teardown_and_stop_leave_pid_1_alone():
    # The registry tests save records with pid 1, pgid 1, create_time 0: nothing is theirs.
    record = entry("20261130-100000-pid1", "init", 1, 0.0)
    assert identity.job_processes(record) == [] and jobs.stop(record, grace=0) == 0
    assert job_status.status(record) == status_words.FAILED


def _unshare_usable() -> str | None:
    if not shutil.which("unshare"):
        return "unshare is not installed"
    probe = subprocess.run(["unshare", "-pf", "--mount-proc", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare -pf --mount-proc is not permitted here: {probe.stderr.strip()[:100]}"
    return None


@pytest.mark.skipif(_unshare_usable() is not None, reason=str(_unshare_usable()))
def test_the_registry_tests_pass_as_pid_1_group_leader():
    """`make test` as a container's first process: pytest's process group is 1. The registry
    tests' records (pid 1, pgid 1) must not make the teardown signal that group."""
    python = REPO / ".venv" / "bin" / "python"
    python = python if python.exists() else Path(sys.executable)
    start = time.monotonic()
    result = subprocess.run(
        ["unshare", "-pf", "--mount-proc", "setsid", "bash", "-c",
         f"{python} -m pytest tests/test_registry.py -q -p no:cacheprovider; echo rc=$?"],
        cwd=REPO, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    took = time.monotonic() - start
    assert "rc=0" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Terminated" not in result.stdout + result.stderr
    assert took < 120, f"took {took:.0f} s"


def test_every_process_of_a_launched_job_carries_its_marker(tmp_path):
    """launch.sh exports the marker and the spawn gives it to the leader: a stand-in for
    torchrun (it forks a grandchild, as workers and dataloaders do) shows it inherited."""
    run_dir = paths.runs_dir() / "20261130-100000-spwn"
    run_dir.mkdir()
    out = tmp_path / "seen"
    command = ["bash", "-c", f"bash -c 'echo $FRCNN_TUI_JOB_ID > {out}'; sleep 300"]
    (run_dir / jobs.LAUNCH_SCRIPT).write_text(
        jobs.render_launch_script("20261130-100000-spwn", "demo-cpu", run_dir, command, {"PYTHONUNBUFFERED": "1"}))
    pid, created = jobs._spawn("20261130-100000-spwn", run_dir, [])
    record = entry("20261130-100000-spwn", "spawned", pid, created)
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.read_text().strip() == "20261130-100000-spwn"
    assert identity.leader(record) is not None and len(identity.job_processes(record)) >= 2
    assert jobs.stop(record, grace=5) >= 2 and identity.job_processes(record) == []
    assert job_status.status(record) == status_words.STOPPED
