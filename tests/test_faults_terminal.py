"""The terminal goes away under the TUI: it must exit within 5 s and leave no process.

Real terminals only: a tmux pane that is killed, and a real SSH session on loopback whose
client is SIGKILLed, as a dropped connection would. Each start form is covered, because they
differ in who hears the hang-up: started directly the TUI is the session leader and gets
SIGHUP; under `make run` make is the leader, catches SIGHUP and waits for its child, so the TUI
hears nothing and must notice the dead terminal itself (tui/hangup.py).
The TUI processes are found by this test's own FRCNN_TUI_HOME in their environment: nothing
else on the machine is looked at or signalled.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import psutil
import pytest

from conftest import GPU_SCENARIOS, REPO, default_signals
from launcher.jobs.identity import MARKER_ENV
from ssh_loopback import LoopbackSshd, Unavailable

TMUX = shutil.which("tmux")
EXIT_WITHIN_S = 5.0
VENV = Path(sys.executable).parent.parent
# `make -o READY` never re-runs the set-up from a test, whatever the marker's age.
MAKE_RUN = f"make -o {shlex.quote(str(VENV / '.frcnn-tui-ready'))} VENV={shlex.quote(str(VENV))} run"
DIRECT = shlex.quote(str(VENV / "bin" / "frcnn-tui"))
START_FORMS = {
    "make run": MAKE_RUN,
    "direct": DIRECT,
    "bash -i": "bash -ic " + shlex.quote(MAKE_RUN),
}


def processes_of(home: Path) -> list[psutil.Process]:
    """Every live process that carries this test's FRCNN_TUI_HOME (the TUI, make, the shells),
    except a job's (they carry its marker, and must outlive any TUI)."""
    found = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
            if env.get("FRCNN_TUI_HOME") == str(home) and MARKER_ENV not in env and \
                    proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def tui_processes(home: Path) -> list[psutil.Process]:
    tuis = []
    for proc in processes_of(home):
        try:
            if any(part.endswith("frcnn-tui") for part in proc.cmdline()[:2]):
                tuis.append(proc)
        except psutil.Error:
            continue
    return tuis


DRAWN = b"r50-fpn-1x"  # a preset row of the Home screen: drawn only once the app has mounted


def wait_tui_up(home: Path, screen: Callable[[], bytes], timeout: float = 90) -> list[psutil.Process]:
    """The TUI process exists and has drawn its first screen (SCREEN: what the terminal shows or
    received), so it is in its loop: a hang-up during start-up is another case."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tuis = tui_processes(home)
        if tuis and DRAWN in screen():
            time.sleep(1.0)  # past start-up: the hang-up must reach a running app
            return tuis
        time.sleep(0.2)
    raise AssertionError(f"the TUI never came up; the screen was: {screen()[-2000:]!r}")


def wait_all_gone(home: Path) -> float:
    """Seconds until no process of this test's home is left; fails after EXIT_WITHIN_S."""
    start = time.monotonic()
    while time.monotonic() - start < EXIT_WITHIN_S:
        if not processes_of(home):
            return time.monotonic() - start
        time.sleep(0.1)
    left = [(p.pid, p.name(), p.cpu_times().user) for p in processes_of(home)]
    for proc in processes_of(home):  # our own; never leave them spinning
        proc.kill()
    raise AssertionError(f"still alive {EXIT_WITHIN_S:.0f}s after the hang-up: {left}")


def outside_env() -> dict[str, str]:
    """The environment for tmux's server and the ssh client: without the test's home, so that
    only what runs inside the terminal carries it."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FRCNN_TUI_")}


def tui_env(home: Path) -> dict[str, str]:
    return {"FRCNN_TUI_HOME": str(home), "FRCNN_TUI_FAKE_GPUS": str(GPU_SCENARIOS / "one.json"),
            "TERM": "xterm-256color"}


def tmux_screen(tmux: list[str]) -> Callable[[], bytes]:
    return lambda: subprocess.run(tmux + ["capture-pane", "-p", "-t", "hup"], capture_output=True).stdout


def start_in_tmux(sock: Path, home: Path, command: str) -> list[str]:
    """COMMAND as the only thing in a new tmux session's pane; returns the tmux command prefix."""
    env_args = [arg for k, v in tui_env(home).items() for arg in ("-e", f"{k}={v}")]
    tmux = [TMUX, "-S", str(sock), "-f", "/dev/null"]
    subprocess.run(tmux + ["new-session", "-d", "-s", "hup", "-x", "100", "-y", "30", "-c", str(REPO), *env_args,
                           command], check=True, timeout=10, preexec_fn=default_signals, env=outside_env())
    return tmux


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
@pytest.mark.parametrize("form", START_FORMS)
def test_tmux_pane_killed_under_the_tui_ends_it(form, tmp_path, frcnn_home):
    tmux = start_in_tmux(tmp_path / "tmux.sock", frcnn_home, START_FORMS[form])
    try:
        wait_tui_up(frcnn_home, tmux_screen(tmux))
        subprocess.run(tmux + ["kill-pane", "-t", "hup"], check=True, timeout=10)
        took = wait_all_gone(frcnn_home)
        print(f"tmux {form}: no process left after {took:.2f}s")
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd"))
    try:
        server.start()
    except Unavailable as exc:
        pytest.skip(f"no loopback SSH server: {exc}")
    yield server
    server.stop()


def run_tui_over_ssh(sshd: LoopbackSshd, home: Path, command: str, out: Path) -> subprocess.Popen:
    """`ssh -tt 127.0.0.1 'cd REPO && ... COMMAND'` with a live stdin, as a user's session would have."""
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in tui_env(home).items())
    remote = f"cd {shlex.quote(str(REPO))} && export {exports} && {command}"
    return subprocess.Popen(sshd.client_args() + [remote], stdin=subprocess.PIPE, stdout=out.open("wb"),
                            stderr=subprocess.STDOUT, preexec_fn=default_signals, env=outside_env())


@pytest.mark.parametrize("form", ["make run", "direct", "bash -i"])
def test_ssh_client_killed_under_the_tui_leaves_no_process(form, sshd, tmp_path, frcnn_home):
    out = tmp_path / "ssh.out"
    client = run_tui_over_ssh(sshd, frcnn_home, START_FORMS[form], out)
    try:
        wait_tui_up(frcnn_home, out.read_bytes)
        client.kill()  # the connection drops: sshd closes the pty master
        client.wait(timeout=5)
        took = wait_all_gone(frcnn_home)
        print(f"ssh {form}: no process left after {took:.2f}s")
    finally:
        if client.poll() is None:
            client.kill()
