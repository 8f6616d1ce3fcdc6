"""`make run` on a fresh clone: the TUI opens once its own light dependencies are installed, while the
long part of the set-up (torch, mmcv's compile) runs detached in the background.

The real bootstrap makes a real venv and installs frcnn-tui into it; only the long part is replaced, by
FRCNN_TUI_BOOTSTRAP_STANDIN: a script that writes ninja-like `[34/77]` lines into the log as mmcv's
compile does, then waits for the test to let it fail. The set-up's state files are also checked
directly (setup_status), and the CLI's plan and launch against a venv whose set-up is still running.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import GPU_SCENARIOS, REPO
from launcher.stack import setup_status
from tui_support import make_app, screen_text, sync, wait_for
from test_tui_tmux import TMUX, Tmux
from tui.screens.plan import PlanScreen

# The goal of issue 28: on a fresh clone the TUI is on screen within two minutes of `make run`.
FIRST_SCREEN_GOAL_S = 120

STANDIN = """#!/bin/sh
# mmcv's compile, as the bootstrap's log shows it: ninja's steps, then (when the test says) a failure.
i=1
while [ $i -le 34 ]; do echo "[$i/77] c++ -c ops/op$i.cpp"; i=$((i + 1)); done
while [ ! -e "$(dirname "$0")/fail-now" ]; do sleep 0.2; done
echo "ops/op35.cpp: fatal error: stand-in compile failed"
exit 1
"""


def _fresh_clone(tmp_path: Path) -> Path:
    """The working tree as a clone has it (tracked and not-ignored files; no venv, no build output)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    clone = tmp_path / "clone"
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    return clone


def _standin_processes(script: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(script) in " ".join(proc.info["cmdline"] or []) and "sh" in Path((proc.info["cmdline"] or [""])[0]).name:
            found.append(proc)
    return found


@pytest.fixture
def tmux(tmp_path):
    if TMUX is None:
        pytest.skip("tmux is not installed")
    session = Tmux(tmp_path / "tmux.sock", "fresh")
    yield session
    subprocess.run([TMUX, "-S", str(session.socket), "kill-server"], capture_output=True)


def test_make_run_opens_the_tui_while_the_long_set_up_runs_detached(tmux, tmp_path, frcnn_home):
    clone = _fresh_clone(tmp_path)
    script, go = tmp_path / "standin.sh", tmp_path / "fail-now"
    script.write_text(STANDIN)
    script.chmod(0o755)
    env = {"FRCNN_TUI_HOME": str(frcnn_home), "FRCNN_TUI_FAKE_GPUS": str(GPU_SCENARIOS / "none.json"),
           "FRCNN_TUI_BUILD_CACHE": str(tmp_path / "cache"), "FRCNN_TUI_BOOTSTRAP_STANDIN": str(script),
           "TERM": "xterm-256color", "PS1": "$ ", "COLUMNS": "120", "LINES": "32"}
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.name, "-x", "120", "-y", "32", "-c", str(clone),
         *[a for k, v in env.items() for a in ("-e", f"{k}={v}")], "sh")
    started = time.monotonic()
    tmux("send-keys", "-t", tmux.name, 'make run; echo "make run exited with $?"', "Enter")
    try:
        # The Home, with the build's progress from the log and an estimate, while the stand-in runs.
        screen = tmux.wait_for("demo-cpu", timeout=FIRST_SCREEN_GOAL_S)
        first_screen_s = time.monotonic() - started
        screen = tmux.wait_for("mmcv 34/77", timeout=20)
        assert "setting up the training stack in the background" in screen and " left" in screen
        print(f"first TUI frame {first_screen_s:.1f} s after `make run` on a fresh clone (light part only)")
        [standin] = _standin_processes(script)
        shell = psutil.Process(int(tmux("display-message", "-p", "-t", tmux.name, "#{pane_pid}").strip()))
        tui = [p for p in shell.children(recursive=True) if ".venv/bin/frcnn-tui" in " ".join(p.cmdline())]
        assert tui and os.getsid(standin.pid) != os.getsid(tui[0].pid)  # detached: a session of its own

        # The Plan: devices, lr, formula and warmup at once; the stack's checks wait, and so does Launch.
        tmux.keys("Enter")
        screen = tmux.wait_for("waiting for the training stack (mmcv 34/77)", timeout=30)
        assert "0.002 × (1×2×2)/4 = 0.002" in screen and "warmup 50" in screen  # 2 CPU workers × 2 images
        assert "WAITING" in screen and "FAIL" not in screen
        assert "a launch can start then" in screen  # the first waiting row's fix, below the table

        # Quitting the TUI leaves the set-up running, and the terminal says so.
        tmux.keys("Escape", "q")
        screen = tmux.wait_for("make run exited with 0", timeout=20)
        assert "frcnn-tui: setting up the training stack in the background" in screen
        assert _standin_processes(script) == [standin]

        # A second `make run` finds the set-up running and leaves it be.
        tmux("send-keys", "-t", tmux.name, "clear; make run; echo \"make run exited with $?\"", "Enter")
        screen = tmux.wait_for("mmcv 34/77", timeout=60)
        assert _standin_processes(script) == [standin]

        # A failed set-up: one line with the log, on the Home and on the terminal.
        go.touch()
        screen = tmux.wait_for("set-up failed", timeout=20)
        status = json.loads((clone / ".venv" / setup_status.STATUS_FILE).read_text())
        assert status["state"] == "failed" and "stand-in" in status["error"]
        assert "fatal error: stand-in compile failed" in Path(status["log"]).read_text()
        assert Path(status["log"]).name in screen.replace("\n", "")
        tmux.keys("q")
        screen = tmux.wait_for("make run exited with 0", timeout=20)
        assert "frcnn-tui: the training stack's set-up failed: building mmcv 2.1.0 (stand-in" in screen
        assert not (clone / ".venv" / setup_status.READY_FILE).exists()
    finally:
        go.touch()  # the stand-in never outlives the test


def _venv_with_status(tmp_path: Path, state: str, phase: str = "mmcv", log_lines: str = "") -> Path:
    """A real (bare) venv with the files the bootstrap keeps while it sets the stack up."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    log = tmp_path / "bootstrap.log"
    log.write_text(log_lines)
    now = time.time()
    (venv / setup_status.STATUS_FILE).write_text(json.dumps(
        {"state": state, "phase": phase, "step": "building mmcv 2.1.0 from source", "error": "", "log": str(log),
         "pid": os.getpid(), "started": now - 600, "step_started": now - 340}))
    (venv / setup_status.LOCK_FILE).write_text(f"{os.getpid()}\n")
    return venv


@pytest.fixture
def held_lock():
    """Hold a venv's set-up lock as a running bootstrap does (flock on the file)."""
    held = []

    def hold(venv: Path) -> None:
        fd = os.open(venv / setup_status.LOCK_FILE, os.O_WRONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.append(fd)

    yield hold
    for fd in held:
        os.close(fd)


def test_setup_status_reads_progress_and_estimate_and_tells_a_killed_set_up(tmp_path, held_lock):
    venv = _venv_with_status(tmp_path, "running", log_lines="[33/77] c++ a.cpp\n  [34/77] c++ b.cpp\nwarning\n")
    assert setup_status.read(venv) is not None and setup_status.read(venv).state == setup_status.FAILED
    assert "stopped during 'building mmcv 2.1.0 from source'" in setup_status.read(venv).error  # no one holds the lock
    held_lock(venv)
    status = setup_status.read(venv)
    assert status.state == setup_status.BUILDING and status.doing == "mmcv 34/77"
    assert status.waiting == "waiting for the training stack (mmcv 34/77)"
    assert 400 < status.left_s < 460  # 340 s for 34 steps: 10 s a step, 43 to go
    assert "about 7 min left" in status.line() and str(tmp_path / "bootstrap.log") in status.line()
    assert setup_status.pending(str(venv / "bin" / "python")).doing == "mmcv 34/77"
    (venv / setup_status.READY_FILE).touch()
    assert setup_status.read(venv) is None


def test_plan_and_launch_wait_for_a_stack_still_being_set_up(cli, tmp_path, held_lock, frcnn_home):
    venv = _venv_with_status(tmp_path, "running", log_lines="[34/77] c++ b.cpp\n")
    held_lock(venv)
    python = str(venv / "bin" / "python")
    plan = cli("plan", "--preset", "demo-cpu", "--cpu", "--nproc", "2", "--python", python, "--json")
    assert "Traceback" not in plan.stderr
    data = json.loads(plan.stdout)
    checks = {c["id"]: c for c in data["checklist"]}
    assert data["status"] == "waiting" and data["lr"] > 0 and data["formula"]
    assert checks["versions"]["status"] == "waiting"
    assert checks["versions"]["detail"] == "waiting for the training stack (mmcv 34/77)"
    assert checks["gpus"]["status"] == "pass" and checks["port"]["status"] == "pass"
    human = cli("plan", "--preset", "demo-cpu", "--cpu", "--nproc", "2", "--python", python)
    assert "Traceback" not in human.stderr and "WAITING" in human.stdout and "(mmcv 34/77)" in human.stdout
    launch = cli("launch", "--preset", "demo-cpu", "--cpu", "--nproc", "2", "--python", python, "--force")
    assert launch.returncode != 0 and "Traceback" not in launch.stderr
    [line] = launch.stderr.strip().splitlines()
    assert "launch refused: waiting for the training stack (mmcv 34/77)" in line and "bootstrap.log" in line
    assert json.loads(cli("jobs", "--json").stdout)["jobs"] == []  # a refused launch leaves nothing
    runs = frcnn_home / "state" / "runs"
    assert not runs.is_dir() or not any(runs.iterdir())


def test_a_failed_set_up_fails_the_plan_in_one_line_with_its_log(cli, tmp_path):
    venv = _venv_with_status(tmp_path, "failed")
    status = json.loads((venv / setup_status.STATUS_FILE).read_text())
    status["error"] = "building mmcv 2.1.0 from source failed"
    (venv / setup_status.STATUS_FILE).write_text(json.dumps(status))
    data = json.loads(cli("plan", "--preset", "demo-cpu", "--cpu", "--python", str(venv / "bin" / "python"),
                          "--json").stdout)
    [failing] = [c for c in data["checklist"] if c["status"] == "fail"]
    assert failing["detail"].startswith("the training stack's set-up failed: building mmcv 2.1.0 from source failed")
    assert f"full log: {tmp_path / 'bootstrap.log'}" in failing["detail"]


@sync
async def test_the_plan_waits_for_the_set_up_then_checks_by_itself_and_launch_follows(
        tmp_path, monkeypatch, held_lock, fake_gpus):
    """The Plan screen while the set-up runs: the checks that need the stack wait (and say how far it is),
    Launch says it waits; when the compile moves on the rows follow, and once the stack is ready the
    real checks run by themselves. The training interpreter is this venv's, behind the set-up's files."""
    import tui.screens.plan as plan_screen
    from recorded_inspection import use_recorded_inspection

    venv = _venv_with_status(tmp_path, "running", log_lines="[34/77] c++ b.cpp\n")
    held_lock(venv)
    python = venv / "bin" / "python"
    python.unlink()
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    monkeypatch.setenv("FRCNN_TUI_PYTHON", str(python))
    monkeypatch.setattr(plan_screen, "SETUP_POLL_S", 0.2)
    use_recorded_inspection(monkeypatch)  # once the stack is ready: its output, without the seconds it costs
    fake_gpus("none")
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        app.open_plan("demo-cpu")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen.plan is not None, 30,
                       "the checklist")
        screen = app.screen
        assert screen.plan.status == "waiting" and "0.002 × (1×2×2)/4 = 0.002" in screen_text(app)
        assert "waiting for the training stack (mmcv 34/77)" in screen_text(app)
        assert screen.check_action("launch", ()) is None and screen.check_action("force_launch", ()) is None
        await pilot.press("ctrl+l")  # dimmed in the key bar: the key does nothing
        await pilot.pause()
        assert isinstance(app.screen, PlanScreen) and not screen.launching
        screen.action_launch()  # as the command palette's Launch: a toast says why
        await wait_for(pilot, lambda: "Launch waits" in "\n".join(n.title for n in app._notifications), 5, "a toast")
        assert not screen.launching

        with open(tmp_path / "bootstrap.log", "a") as log:
            log.write("[40/77] c++ c.cpp\n")
        await wait_for(pilot, lambda: "(mmcv 40/77)" in screen_text(app), 10, "the rows to follow the compile")

        (venv / setup_status.READY_FILE).touch()
        await wait_for(pilot, lambda: screen.plan is not None and screen.plan.status in ("pass", "warn"), 60,
                       "the real checks once the stack is ready")
        assert not any(c.status == "waiting" for c in screen.plan.checks)
        assert {"lr", "seed", "versions"} <= {c.id for c in screen.plan.checks}
        assert screen.check_action("launch", ()) is True  # Launch is offered now


def test_a_full_set_up_waits_for_the_one_running_and_does_not_start_another(tmp_path):
    """`make test` (the bootstrap without --background) while `make run`'s set-up runs: it waits on the
    lock, and when that set-up has made the stack ready it has nothing left to do."""
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    for name in ("scripts/bootstrap.sh", "pyproject.toml", "constraints.txt"):
        shutil.copy(REPO / name, root / name)
    venv = root / ".venv"
    venv.mkdir()
    (venv / setup_status.LOCK_FILE).write_text("4242\n")
    lock = os.open(venv / setup_status.LOCK_FILE, os.O_WRONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as the running set-up holds it
    try:
        proc = subprocess.Popen(["bash", str(root / "scripts" / "bootstrap.sh")], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        time.sleep(4)  # past its 2 s try: it must be waiting, not installing
        assert proc.poll() is None and not (venv / "bin").exists()
        later = time.time() + 5  # the other set-up's ready marker, newer than what decides the install
        (venv / setup_status.READY_FILE).touch()
        os.utime(venv / setup_status.READY_FILE, (later, later))
    finally:
        os.close(lock)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "waiting for the set-up already running (pid 4242) to finish" in out
    assert not (venv / "bin").exists()  # it made no venv and installed nothing
