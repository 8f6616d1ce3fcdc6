"""Snapshot tests of each screen at a fixed size: simulated GPUs, recorded logs, a frozen clock,
a fixed state dir (paths show on screen) and no cursor blink. Update with --snapshot-update."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from launcher.jobs import registry
from recorded_inspection import use_recorded_inspection
from tui_support import NOW, add_job, fake_gpus_env
from tui.app import FrcnnApp
from tui.screens.monitor import MonitorScreen

HOME = Path(tempfile.gettempdir()) / "frcnn-tui-snapshot-home"  # fixed: run dirs show on screen


@pytest.fixture(autouse=True)
def fixed_home(monkeypatch):
    shutil.rmtree(HOME, ignore_errors=True)
    monkeypatch.setenv("FRCNN_TUI_HOME", str(HOME))
    yield HOME
    shutil.rmtree(HOME, ignore_errors=True)


@pytest.fixture
def gpus(monkeypatch):
    def use(name: str) -> None:
        monkeypatch.setenv("FRCNN_TUI_FAKE_GPUS", fake_gpus_env(name))
    return use


@pytest.fixture
def fixed_plan(monkeypatch, fixed_home):
    """make_plan for real but for its subprocess (the recorded inspection) and for what is this
    machine's, not the plan's: the working directory (relative data roots become absolute) and
    the rendezvous port (a free one is drawn; whether it is free is this machine's state)."""
    use_recorded_inspection(monkeypatch)
    fixed_home.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(fixed_home)
    monkeypatch.setattr("launcher.planning.plan.free_port", lambda: 29500)
    monkeypatch.setattr("launcher.planning.checklist.port_is_free", lambda port: True)


def app() -> FrcnnApp:
    return FrcnnApp(probe_interval=None, jobs_interval=None, watch_interval=0.1, host="gpu-box",
                    clock=lambda: NOW, slurm=False)  # the same screens whether or not sbatch is installed


async def settle(pilot) -> None:
    await pilot.pause()


async def wait_for_checklist(pilot, timeout: float = 15.0) -> None:
    """The checklist is debounced and built in a worker: wait for it, not for a fixed time
    (a loaded 2-core CI box can take longer than any fixed pause)."""
    for _ in range(int(timeout / 0.1)):
        if getattr(pilot.app.screen, "plan", None) is not None:
            break
        await pilot.pause(0.1)
    await settle(pilot)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


async def until(pilot, predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


def test_home_eight_gpus(snap_compare, gpus):
    gpus("eight")
    assert snap_compare(app(), terminal_size=(100, 32), run_before=settle)


def test_home_no_gpu_80x24(snap_compare, gpus):
    gpus("none")
    assert snap_compare(app(), terminal_size=(80, 24), run_before=settle)


def _plan(preset: str, *keys: str):
    """run_before: PRESET's Plan, KEYS pressed in it, then its checklist."""
    async def run_before(pilot):
        await settle(pilot)
        pilot.app.open_plan(preset)
        await settle(pilot)
        await pilot.press(*keys)
        await wait_for_checklist(pilot)
    return run_before


def test_plan_four_of_eight_gpus(snap_compare, gpus, fixed_plan):
    gpus("eight")
    untick = ["space", "down"] * 4  # GPUs 0-3
    assert snap_compare(app(), terminal_size=(100, 32), run_before=_plan("r50-fpn-1x", *untick))


def test_plan_cpu_80x24(snap_compare, gpus, fixed_plan):
    gpus("none")

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("p")
        await wait_for_checklist(pilot)

    assert snap_compare(app(), terminal_size=(80, 24), run_before=run_before)


def _jobs() -> None:
    add_job("20261128-231000-aaaa", status="succeeded", epochs=12)
    add_job("20261129-081500-bbbb", status="failed", epochs=3, nan_at=250, traceback=True, started_at=NOW - 600)
    add_job("20261129-093000-cccc", status="stopped", epochs=6, gpu_ids=(4, 5), started_at=NOW - 60)


def test_jobs(snap_compare, gpus):
    gpus("eight")
    _jobs()

    async def run_before(pilot):
        await pilot.press("j")
        await until(pilot, lambda: getattr(pilot.app.screen, "loaded", False))  # the rows load in a worker
        await settle(pilot)

    assert snap_compare(app(), terminal_size=(100, 24), run_before=run_before)


def _monitor(job_id: str, *keys: str):
    async def run_before(pilot):
        await settle(pilot)
        pilot.app.open_monitor(registry.find(job_id))
        await until(pilot, lambda: isinstance(pilot.app.screen, MonitorScreen) and pilot.app.screen.snapshot)
        await pilot.pause(0.3)
        await pilot.press(*keys)
        await settle(pilot)
    return run_before


def test_monitor_loss(snap_compare, gpus):
    gpus("eight")
    _jobs()
    assert snap_compare(app(), terminal_size=(100, 32), run_before=_monitor("20261128-231000-aaaa"))


def test_monitor_map_80x24(snap_compare, gpus):
    gpus("eight")
    _jobs()
    assert snap_compare(app(), terminal_size=(80, 24), run_before=_monitor("20261128-231000-aaaa", "3"))


def test_monitor_nan_banner_and_log(snap_compare, gpus):
    gpus("eight")
    _jobs()
    assert snap_compare(app(), terminal_size=(100, 32), run_before=_monitor("20261129-081500-bbbb", "4"))


def test_compare(snap_compare, gpus):
    gpus("eight")
    _jobs()

    async def run_before(pilot):
        await pilot.press("j")
        await until(pilot, lambda: getattr(pilot.app.screen, "loaded", False))  # "c" compares the loaded rows
        await pilot.press("c")
        await settle(pilot)
        await pilot.app.workers.wait_for_complete()  # the table is read in a worker
        await settle(pilot)

    assert snap_compare(app(), terminal_size=(80, 24), run_before=run_before)


def test_home_no_color(snap_compare, gpus, monkeypatch):
    # NO_COLOR: Textual renders monochrome; status must still read from words and weight, not colour.
    monkeypatch.setenv("NO_COLOR", "1")
    gpus("mixed")  # a lost GPU and a field NVML does not support, too
    assert snap_compare(app(), terminal_size=(100, 24), run_before=settle)


def test_plan_failing_checks_80x24(snap_compare, gpus, fixed_plan):
    # No COCO here and a CPU torch: the failing checks come first, in view at 80x24.
    gpus("eight")
    assert snap_compare(app(), terminal_size=(80, 24), run_before=_plan("r50-fpn-1x"))


def test_jobs_80x24(snap_compare, gpus):
    # The job names right after the ids, and q Quit in the key bar.
    gpus("eight")
    _jobs()

    async def run_before(pilot):
        await pilot.press("j")
        await until(pilot, lambda: getattr(pilot.app.screen, "loaded", False))
        await settle(pilot)

    assert snap_compare(app(), terminal_size=(80, 24), run_before=run_before)
