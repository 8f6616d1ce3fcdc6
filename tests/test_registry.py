"""Registry: atomic records, derived status, corrupt entries, reused pids, names, concurrency."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from launcher import paths
from launcher.jobs import identity, job_status, registry, status_words
from launcher.errors import UserError
from launcher.jobs.registry import JobRecord


def record(run_dir, pid, create_time, job_id="20260101-000000-abcd", name="r50"):
    return JobRecord(id=job_id, name=name, preset="r50-fpn-1x", run_dir=str(run_dir), gpu_ids=[0], cpu=False,
                     nproc_per_node=1, nodes=1, pid=pid, pgid=pid, create_time=create_time,
                     started_at=time.time(), port=29500, command=["true"], python=sys.executable)


def test_state_dir_is_private(frcnn_home):
    assert oct(paths.jobs_dir().stat().st_mode & 0o777) == "0o700"


def test_status_follows_a_real_process_and_its_exit_file(tmp_path):
    # Marked as the job's, as every process of a launched job is (launcher.jobs.identity).
    proc = subprocess.Popen(["sleep", "30"], env={**os.environ, **identity.marker_env("20260101-000000-abcd")})
    try:
        rec = record(tmp_path, proc.pid, psutil.Process(proc.pid).create_time())
        registry.save(rec)
        assert job_status.status(registry.find(rec.id)) == status_words.RUNNING
    finally:
        proc.kill()
        proc.wait()
    assert job_status.status(rec) == status_words.FAILED  # dead, no exit file
    (tmp_path / registry.EXIT_FILE).write_text("0\n")
    assert job_status.status(rec) == status_words.SUCCEEDED
    (tmp_path / registry.EXIT_FILE).write_text("143\n")
    (tmp_path / registry.STOP_FILE).write_text("1")
    assert job_status.status(rec) == status_words.STOPPED


def test_a_reused_pid_does_not_look_running(tmp_path):
    # Our own pid is alive, but it was created at another time than the job's.
    me = psutil.Process(os.getpid())
    rec = record(tmp_path, me.pid, me.create_time() - 1000)
    assert job_status.status(rec) == status_words.FAILED
    assert identity.job_processes(rec) == []  # nothing here carries the job's marker


def test_corrupt_entry_is_reported_once_and_kept_aside(tmp_path):
    registry.save(record(tmp_path, 1, 0.0, job_id="good-1"))
    bad = paths.jobs_dir() / "bad-1.json"
    bad.write_text("{ truncated")
    (paths.jobs_dir() / "bad-2.json").write_text(json.dumps({"id": "x"}))  # missing fields
    warnings = []
    assert [r.id for r in registry.load_all(warnings.append)] == ["good-1"]
    assert len(warnings) == 2 and all("skipped corrupt job entry" in w for w in warnings)
    assert [r.id for r in registry.load_all(warnings.append)] == ["good-1"] and len(warnings) == 2
    kept = list((paths.jobs_dir() / "corrupt").iterdir())
    assert len(kept) == 2 and any(p.read_text() == "{ truncated" for p in kept)


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 65, "sp ace", ".."])
def test_job_names_cannot_escape_the_state_dir(name):
    with pytest.raises(UserError):
        registry.validate_name(name)


def test_find_by_id_name_and_prefix(tmp_path):
    registry.save(record(tmp_path, 1, 0.0, job_id="20260101-000000-aaaa", name="first"))
    registry.save(record(tmp_path, 1, 0.0, job_id="20260101-000001-bbbb", name="second"))
    assert registry.find("first").id == "20260101-000000-aaaa"
    assert registry.find("20260101-000001").id == "20260101-000001-bbbb"
    with pytest.raises(UserError, match="ambiguous"):
        registry.find("20260101")
    with pytest.raises(UserError, match="no job"):
        registry.find("nope")


def test_concurrent_writers_never_leave_a_torn_file(tmp_path):
    def write(i):
        rec = record(tmp_path, i, 0.0, job_id="same-job")
        rec.command = ["x" * 1000] * (i % 7 + 1)
        with registry.locked():
            registry.save(rec)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(200)))
    [rec] = registry.load_all()
    assert rec.id == "same-job"
    assert not list(paths.jobs_dir().glob(".*.tmp"))


def test_cli_errors_for_unknown_and_invalid_jobs(cli):
    for args in (["stop", "nope"], ["resume", "nope"], ["watch", "nope"], ["logs", "nope"]):
        result = cli(*args)
        assert result.returncode == 2, args
        assert "no job 'nope'" in result.stderr and "Traceback" not in result.stderr
    result = cli("launch", "--preset", "demo-cpu", "--name", "../../etc")
    assert result.returncode == 2 and "invalid job name" in result.stderr
