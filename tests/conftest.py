"""Shared fixtures: every test gets its own frcnn-tui home (state, cache, config).

The synthetic dataset is the one exception: generating it is deterministic and
costs seconds, so all tests share one cache under the pytest cache dir.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def default_signals() -> None:
    """preexec_fn for a child that must get SIGHUP and SIGINT as a user's terminal sends them.
    A suite started with nohup, or with `&` in a script (no job control), ignores those two,
    and an ignored signal stays ignored in every child: bash -c cannot even trap it again."""
    import signal

    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code` in the repo root:
    start-up cost is about what gets imported, and only a new process shows it."""
    import json

    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))
DATA = Path(__file__).resolve().parent / "data"
GPU_SCENARIOS = DATA / "gpus"


@pytest.fixture(autouse=True)
def frcnn_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("FRCNN_TUI_HOME", str(home))
    monkeypatch.delenv("FRCNN_TUI_FAKE_GPUS", raising=False)
    monkeypatch.delenv("FRCNN_TUI_PYTHON", raising=False)
    yield home
    # Jobs are detached on purpose, so a failed or interrupted test would leave its
    # training running; stop whatever this test's registry still has alive. Only processes
    # carrying a job's marker count (launcher.jobs.identity): entries that tests write with
    # pid 1 / pgid 1, or a pid now reused, never make this signal anything else (pytest included).
    if (home / "state" / "jobs").is_dir():
        from launcher.jobs import identity, registry
        from launcher.jobs import local as jobs

        for record in registry.load_all(warn=lambda msg: None):
            if identity.job_processes(record):
                jobs.stop(record, grace=5)


@pytest.fixture
def fake_gpus(monkeypatch):
    """Point the probe at a named simulated inventory (tests/data/gpus/NAME.json)."""

    def use(name: str) -> Path:
        path = GPU_SCENARIOS / f"{name}.json"
        monkeypatch.setenv("FRCNN_TUI_FAKE_GPUS", str(path))
        return path

    return use


def run_cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """frcnn-tui as a user runs it: a real process, the installed console script's module."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "launcher.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """The tiny generated COCO-format set (training_helpers.TINY) the real-training tests train on:
    made once, read only (no test writes into it); a test that needs another size makes its own."""
    from training_helpers import make_tiny_dataset  # it imports this module: not at its top

    return make_tiny_dataset(tmp_path_factory.mktemp("data"))
