"""Launch under faults: SIGKILL at each of its steps, and a full state disk.

Real launches of real jobs (the tiny demo-cpu set, one worker); the kill lands exactly at a
step through the test-only FRCNN_TUI_TEST_PAUSE_AT (launcher/jobs/launch_journal.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from launcher.jobs import identity, launch_journal
from training_helpers import launch, needs_stack, tiny_launch_args, wait_for

pytestmark = [needs_stack, pytest.mark.training]


def registry_ids() -> set[str]:
    result = run_cli("jobs", "--json")
    assert result.returncode == 0, result.stderr
    return {j["id"] for j in json.loads(result.stdout)["jobs"]}


def launch_paused_at(step: str, args: list[str], tmp_path: Path) -> tuple[subprocess.Popen, str, Path]:
    """A `frcnn-tui launch` stopped at STEP; returns it with the job id and run dir it announced."""
    err = tmp_path / f"launch-{step}.err"
    proc = subprocess.Popen([sys.executable, "-m", "launcher.cli", "launch", *args], cwd=REPO,
                            env={**os.environ, launch_journal.PAUSE_ENV: step}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err.open("w"))
    line = wait_for(lambda: next((x for x in err.read_text().splitlines() if "paused at" in x), None), 120,
                    f"launch to pause at {step}: {err.read_text()[-500:] if err.exists() else ''}")
    job_id = line.split("(job ")[1].split(",")[0]
    run_dir = Path(line.split("run dir ")[1].rstrip(")"))
    return proc, job_id, run_dir


def test_launch_killed_at_each_step_leaves_no_half_registered_job(tiny_data, tmp_path, frcnn_home):
    args = tiny_launch_args(tiny_data, epochs=1, nproc=1)
    runs = frcnn_home / "state" / "runs"
    whole = []
    for step in launch_journal.STEPS:
        proc, job_id, run_dir = launch_paused_at(step, args, tmp_path)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if step == "after-registry":  # registered: a whole job, running
            assert job_id in registry_ids()
            wait_for(lambda: identity.marked_processes(job_id), 10, "the registered job's processes")
            whole.append(job_id)
            continue
        # Never registered: nothing listed, and nothing runs (the gated leader gives up at once).
        assert job_id not in registry_ids(), step
        wait_for(lambda: not identity.marked_processes(job_id), 10, f"job {job_id}'s processes to end ({step})")
        assert not list((frcnn_home / "state" / "jobs").glob(".*.tmp")), step
    # The retried launch finishes what the killed ones left: their run dirs go, whole jobs stay.
    retried = launch(*args)
    assert retried["status"] == "running"
    whole.append(retried["id"])
    assert registry_ids() == set(whole)
    assert sorted(p.name for p in runs.iterdir()) == sorted(whole)
    assert not list((frcnn_home / "state" / "launching").iterdir())
    for job_id in whole:
        result = run_cli("stop", job_id, "--grace", "5")
        assert result.returncode == 0, result.stderr
        assert not identity.marked_processes(job_id)


def _mount_tmpfs(path: Path, size: str) -> str | None:
    """Mounts a tmpfs at PATH; returns why it cannot, or None."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                         capture_output=True, text=True)
    return None if out.returncode == 0 else f"mount -t tmpfs failed: {out.stderr.strip()[:200]}"


def _fill(path: Path) -> int:
    """Writes PATH until the disk is full; returns the bytes written."""
    written = 0
    chunk = b"\0" * (64 << 10)
    try:
        with open(path, "wb") as fh:
            while True:
                fh.write(chunk)
                fh.flush()
                written += len(chunk)
    except OSError:
        pass
    return written


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_full_state_disk_fails_the_launch_in_one_line_and_keeps_what_was_there(tiny_data, tmp_path, monkeypatch):
    mount = tmp_path / "small-disk"
    why = _mount_tmpfs(mount, "24m")
    if why:
        pytest.skip(why)
    try:
        home = mount / "home"
        monkeypatch.setenv("FRCNN_TUI_HOME", str(home))
        args = tiny_launch_args(tiny_data, epochs=1, nproc=1)
        earlier = launch(*args, "--name", "earlier")
        assert run_cli("stop", earlier["id"], "--grace", "5").returncode == 0
        before_jobs = run_cli("jobs", "--json").stdout
        state = home / "state"
        before = _files(state)
        assert _fill(mount / "filler") > 0

        result = run_cli("launch", *args)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("frcnn-tui: error: "), result.stderr
        assert "Traceback" not in result.stderr
        after = _files(state)
        assert after == before  # the registry, the earlier run dir: byte for byte; nothing new
        assert run_cli("jobs", "--json").stdout == before_jobs
        print(f"full disk: {lines[0]}")
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
