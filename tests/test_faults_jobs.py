"""Faults a running job survives, and faults it reports: real torchrun, 2 gloo workers, mmdet's
FasterRCNN on the tiny shapes set, real processes killed and stopped with real signals.

One long job carries several faults in turn (the 2-core budget): kill -9 of the launching
shell, of `watch` and of the TUI, then a dropped SSH session under a TUI; then one rank is
SIGSTOPped (a stuck collective) until `stalled` shows and SIGCONTed until it clears; then one
rank is SIGKILLed and the job must fail naming that rank. A second job has rank 1 raise at
an iteration (FRCNN_TUI_TEST_RAISE_AT), is named with its own traceback, and is resumed: the
first lr after the resume must be the schedule's.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import REPO, run_cli
from launcher.jobs import identity, registry
from test_faults_terminal import (START_FORMS, run_tui_over_ssh, sshd, start_in_tmux, tmux_screen,  # noqa: F401
                                  wait_all_gone, wait_tui_up)
from tui_support import screen_text, sync
from training_helpers import (explain, job_status, launch, needs_stack, scalars_lines,
                              tiny_launch_args, wait_done, wait_for)

pytestmark = [needs_stack, pytest.mark.training]
STALL_GRACE_S = 10  # launch --stall-grace: the hung rank is called stalled 10 s past three log intervals, not 30


def workers(job_id: str) -> dict[int, psutil.Process]:
    """The job's rank processes by local rank: the children of its torchrun agent."""
    ranks = {}
    for proc in identity.marked_processes(job_id):
        try:
            if "torch.distributed.run" in " ".join(proc.parent().cmdline()) and "train_entry.py" in " ".join(
                    proc.cmdline()):
                ranks[int(proc.environ()["LOCAL_RANK"])] = proc
        except (psutil.Error, KeyError, ValueError, AttributeError):
            continue
    return ranks


def jobs_row(job_id: str) -> dict:
    result = run_cli("jobs", "--json")
    assert result.returncode == 0, result.stderr
    return next(j for j in json.loads(result.stdout)["jobs"] if j["id"] == job_id)


def watch_once(job_id: str) -> dict:
    result = run_cli("watch", job_id, "--once", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def train_lines(run_dir: Path) -> list[dict]:
    return [r for r in scalars_lines(run_dir) if "loss" in r]


class WatchJson:
    """`frcnn-tui watch JOB --json` running live; its objects read back as they come."""

    def __init__(self, job_id: str, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen([sys.executable, "-m", "launcher.cli", "watch", job_id, "--json"], cwd=REPO,
                                     stdin=subprocess.DEVNULL, stdout=out.open("wb"), stderr=subprocess.DEVNULL)

    def snapshots(self) -> list[dict]:
        lines = self.out.read_text().splitlines() if self.out.exists() else []
        return [json.loads(line) for line in lines if line.strip().endswith("}")]

    def latest_kinds(self) -> set[str]:
        snaps = self.snapshots()
        return {a["kind"] for a in snaps[-1]["alerts"]} if snaps else set()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def _monitor_shows(job_id: str, predicate, timeout: float, what: str) -> str:
    """Opens a fresh TUI (Textual's Pilot, real clock) on the job's Monitor and waits for PREDICATE(screen)."""
    from test_tui_app import wait_for as pilot_wait
    from tui.app import FrcnnApp

    app = FrcnnApp(probe_interval=None, jobs_interval=None, watch_interval=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_monitor(registry.find(job_id))
        await pilot_wait(pilot, lambda: predicate(screen_text(app)), timeout, what)
        return screen_text(app)


@sync
async def _monitor(job_id: str, predicate, timeout: float, what: str) -> str:
    return await _monitor_shows(job_id, predicate, timeout, what)


def test_a_job_outlives_its_watchers_then_a_hung_rank_stalls_it_then_a_killed_rank_fails_it(
        tiny_data, tmp_path, frcnn_home, sshd):  # noqa: F811 - the loopback sshd fixture
    figures = {}
    # -- launched from a shell that is then kill -9'd, with a watch and a TUI following it --
    out = tmp_path / "launch.json"
    launch_args = " ".join(["--stall-grace", f"{STALL_GRACE_S:g}", *tiny_launch_args(tiny_data, epochs=60)])
    cmd = f"{sys.executable} -m launcher.cli launch {launch_args} > {out}; sleep 600"
    shell = subprocess.Popen(["bash", "-c", cmd], cwd=REPO, start_new_session=True, stdin=subprocess.DEVNULL)
    watch, tmux = None, None
    try:
        wait_for(lambda: out.exists() and out.read_text().rstrip().endswith("}"), 180, "launch output")
        job = json.loads(out.read_text())
        job_id, run_dir = job["id"], Path(job["run_dir"])
        watch = WatchJson(job_id, tmp_path / "watch.jsonl")
        tmux = start_in_tmux(tmp_path / "tmux.sock", frcnn_home, START_FORMS["direct"])
        tui = wait_tui_up(frcnn_home, tmux_screen(tmux))
        wait_for(lambda: len(train_lines(run_dir)) >= 3, 300, "training to log")
        os.killpg(shell.pid, signal.SIGKILL)  # the launching shell (and what it still runs)
        for victim in [watch.proc, *tui]:  # watch, the TUI
            os.kill(victim.pid, signal.SIGKILL)
        subprocess.run(tmux + ["kill-server"], capture_output=True)
        # A TUI over SSH whose connection drops: it goes, the job stays.
        ssh_out = tmp_path / "ssh.out"
        client = run_tui_over_ssh(sshd, frcnn_home, START_FORMS["make run"], ssh_out)
        wait_tui_up(frcnn_home, ssh_out.read_bytes)
        client.kill()
        figures["ssh_tui_gone_after_s"] = round(wait_all_gone(frcnn_home), 2)
        logged = len(train_lines(run_dir))
        wait_for(lambda: len(train_lines(run_dir)) > logged + 2, 120, "training to go on")
        assert job_status(job_id) == "running"
        before = len(train_lines(run_dir))
        snap = watch_once(job_id)  # a new watcher reads the whole history, from the first line
        assert before <= snap["records"] <= len(train_lines(run_dir)) and before >= logged + 3
        figures["history_records"] = snap["records"]

        # -- a hung rank: SIGSTOP rank 1 until `stalled` shows, SIGCONT until it clears --
        watch = WatchJson(job_id, tmp_path / "watch2.jsonl")
        rank1 = workers(job_id)[1]
        rank1.suspend()
        stopped_at = time.monotonic()
        try:
            wait_for(lambda: "stalled" in watch.latest_kinds(), 240, "a stalled alert in watch --json")
            figures["stalled_after_s"] = round(time.monotonic() - stopped_at, 1)
            interval = _usual_interval(run_dir)
            figures["usual_interval_s"] = round(interval, 2)
            # three intervals and the launch's grace, then the next poll (30 s of room for a loaded machine)
            assert figures["stalled_after_s"] <= 3 * interval + STALL_GRACE_S + 30, figures
            row = jobs_row(job_id)
            assert row["status"] == "running" and [a["kind"] for a in row["alerts"]] == ["stalled"]
            assert "(stalled)" in run_cli("jobs").stdout
            _monitor(job_id, lambda text: "Stalled" in text, 30, "the Monitor's stalled banner")
        finally:
            rank1.resume()
        resumed_at = time.monotonic()
        wait_for(lambda: "stalled" not in watch.latest_kinds(), 120, "the stalled alert to clear")
        figures["cleared_after_s"] = round(time.monotonic() - resumed_at, 1)
        assert not jobs_row(job_id)["alerts"]
        watch.close()

        # -- one rank killed outright: torchrun ends the other, the job fails naming rank 1 --
        victim = workers(job_id)[1]
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: job_status(job_id) == "failed", 30, "the job to read failed")
        figures["failed_after_s"] = round(time.monotonic() - killed_at, 1)
        wait_for(lambda: not identity.marked_processes(job_id), 30, "every process of the job to end")
        row = jobs_row(job_id)
        assert row["failed_rank"]["rank"] == 1 and row["failed_rank"]["signal"] == "SIGKILL", explain(run_dir)
        assert f"received by PID {victim.pid}" in row["failed_rank"]["traceback"]
        text = run_cli("jobs").stdout
        assert "(rank 1)" in text and f"Signal 9 (SIGKILL) received by PID {victim.pid}" in text
        snap = watch_once(job_id)
        assert snap["rank_failure"]["rank"] == 1 and any(a["kind"] == "rank_failed" for a in snap["alerts"])
        screen = _monitor(job_id, lambda t: "Rank failed" in t, 30, "the Monitor's rank-failed banner")
        assert "rank 1 (local rank 1) failed first: killed by SIGKILL" in screen
        print(f"faults on one job: {figures}")
    finally:
        if watch is not None:
            watch.close()
        if tmux is not None:
            subprocess.run(tmux + ["kill-server"], capture_output=True)
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)


def _usual_interval(run_dir: Path) -> float:
    rows = train_lines(run_dir)[-16:]
    gaps = sorted(b["step"] - a["step"] for a, b in zip(rows, rows[1:]) if b["step"] > a["step"]) or [1]
    times = sorted(r["time"] for r in rows)
    return gaps[len(gaps) // 2] * times[len(times) // 2]


def test_a_raising_rank_is_named_with_its_traceback_and_the_resume_keeps_the_schedule(tiny_data, monkeypatch):
    # Rank 1 raises at iteration 12: epoch 2 (8 iterations an epoch), after the first checkpoint.
    monkeypatch.setenv("FRCNN_TUI_TEST_RAISE_AT", "1:12")
    job = launch(*tiny_launch_args(tiny_data, epochs=2))
    monkeypatch.delenv("FRCNN_TUI_TEST_RAISE_AT")
    job_id, run_dir = job["id"], Path(job["run_dir"])
    assert wait_done(job_id, 400) == "failed", explain(run_dir)
    failed = jobs_row(job_id)["failed_rank"]
    assert failed["rank"] == 1 and failed["error_file"], explain(run_dir)
    assert "injected test fault (FRCNN_TUI_TEST_RAISE_AT) on rank 1 at iteration 12" in failed["traceback"]
    assert "Traceback (most recent call last)" in failed["traceback"] and "before_train_iter" in failed["traceback"]
    assert "rank 1" in watch_once(job_id)["rank_failure"]["summary"]
    assert not identity.marked_processes(job_id)

    result = run_cli("resume", job_id, "--json")
    assert result.returncode == 0, result.stderr
    assert wait_done(job_id, 400) == "succeeded", explain(run_dir)
    folders = sorted(p for p in run_dir.iterdir() if (p / "vis_data" / "scalars.json").is_file())
    resumed = [json.loads(x) for x in (folders[-1] / "vis_data" / "scalars.json").read_text().splitlines()]
    first = next(r for r in resumed if "loss" in r)
    plan_lr = json.loads((run_dir / "plan.json").read_text())["resolved"]["lr"]
    # Past warmup, in the preset's cosine (set once an epoch over its 24 epochs, floor 1% of the
    # lr): epoch 2 runs at the cosine's first step, as MMEngine documents the closed form.
    cosine = 0.01 + 0.99 * (1 + math.cos(math.pi * 1 / 24)) / 2
    assert first["epoch"] == 2 and first["lr"] == pytest.approx(plan_lr * cosine, rel=1e-4)
    assert not [a for a in watch_once(job_id)["alerts"] if a["kind"] == "lr-after-resume"]
