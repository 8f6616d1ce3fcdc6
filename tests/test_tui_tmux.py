"""frcnn-tui in a real terminal: tmux runs the CLI (no arguments opens the TUI), keys go in with
send-keys, the screen comes back with capture-pane. Simulated GPUs, the test's own state dir."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import GPU_SCENARIOS, REPO

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, socket: Path, name: str) -> None:
        self.socket, self.name = socket, name

    def __call__(self, *args: str) -> str:
        out = subprocess.run([TMUX, "-S", str(self.socket), *args], capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.name)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never showed up; the screen was:\n{screen}")
            time.sleep(0.2)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self("send-keys", "-t", self.name, key)
            time.sleep(0.15)


@pytest.fixture
def tmux(tmp_path):
    session = Tmux(tmp_path / "tmux.sock", "frcnn")
    yield session
    subprocess.run([TMUX, "-S", str(session.socket), "kill-server"], capture_output=True)


def test_tui_in_tmux_shows_gpus_and_the_lr_formula_then_quits(tmux, frcnn_home):
    # A shell first, the command typed into it: the pane has its 100x30 size before the TUI starts.
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.name, "-x", "100", "-y", "30", "-c", str(REPO),
         "-e", f"FRCNN_TUI_HOME={frcnn_home}", "-e", f"FRCNN_TUI_FAKE_GPUS={GPU_SCENARIOS / 'eight.json'}",
         "-e", "TERM=xterm-256color", "-e", "PS1=$ ",
         # tmux may apply a detached pane's size to its pty a moment late; shutil reads these first.
         "-e", "COLUMNS=100", "-e", "LINES=30", "sh")
    assert tmux("display-message", "-p", "-t", tmux.name, "#{pane_width}x#{pane_height}").strip() == "100x30"
    shell_pid = int(tmux("display-message", "-p", "-t", tmux.name, "#{pane_pid}").strip())
    tmux("send-keys", "-t", tmux.name, f"{sys.executable} -m tui; echo \"frcnn-tui exited with $?\"",
         "Enter")

    screen = tmux.wait_for("7 A100-SXM4-80GB")  # the last GPU row
    assert screen.count("A100-SXM4-80GB") == 8 and "8/8 free" in screen and "r50-fpn-1x" in screen
    tui = [p for p in psutil.Process(shell_pid).children() if "-m tui" in " ".join(p.cmdline())]
    assert len(tui) == 1

    tmux.keys("Enter")  # r50-fpn-1x is highlighted: open its plan
    tmux.wait_for("0.02 × (1×8×2)/16 = 0.02")
    for left in (7, 6, 5, 4):  # untick four GPUs, watching the lr follow each time as a user would
        tmux.keys("Space")
        screen = tmux.wait_for(f"(1×{left}×2)/16")
        tmux.keys("Down")
    assert "0.02 × (1×4×2)/16 = 0.01" in screen
    assert "Launch" in screen and "Checklist" in screen

    tmux.keys("Escape", "q")
    screen = tmux.wait_for("frcnn-tui exited with 0", timeout=20)
    tui[0].wait(timeout=10)
    assert not tui[0].is_running()
