"""What the TUI costs while it sits there: nothing refreshes under another screen, a logging job's
charts are redrawn a few times a minute instead of at every line, and start-up leaves the Jobs
screen, the registry and the GPU probe for later. (bench/ measures the figures; these pin the
behaviour that gets them.)"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
from textual_plotext.plot import Plot

from conftest import modules_after
from launcher.jobs import identity, registry
from tui_support import TS, add_job, loss_at, make_app, open_monitor, screen_text, sync, wait_for
from tui.screens.jobs import JobsScreen
from tui.screens.monitor import MonitorScreen
from tui.widgets.charts import LossChart
from tui.widgets.gpu_panel import GpuPanel

SIZE = (100, 32)


def counting(monkeypatch, cls, name: str) -> list:
    """Record each call of cls.name (its first argument after self), then call it."""
    calls: list = []
    original = getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        calls.append(args[0] if args else None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, wrapper)
    return calls


@pytest.fixture
def logging_job():
    """A 'running' job (a detached sleeper is its process) and a function that appends train lines."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **identity.marker_env("20261130-120000-ffff")})
    record = add_job("20261130-120000-ffff", status="succeeded", epochs=1)
    (record.run_path / registry.EXIT_FILE).unlink()
    record.pid = record.pgid = proc.pid
    record.create_time = psutil.Process(proc.pid).create_time()
    registry.save(record)
    scalars = record.run_path / TS / "vis_data" / "scalars.json"
    step = [100]  # write_run's epoch 1 ends at step 100

    def log_line() -> int:
        step[0] += 10
        s = step[0]
        rec = {"lr": 0.01, "data_time": 0.01, "loss": loss_at(s), "loss_rpn_cls": 0.1, "loss_rpn_bbox": 0.03,
               "loss_cls": 0.2, "loss_bbox": 0.1, "acc": 90.0, "time": 0.5, "epoch": 2, "iter": s,
               "memory": 3012, "step": s}
        with open(scalars, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        return s

    yield record, log_line
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def loss_steps(series: dict) -> int | None:
    return max((bucket[0] for bucket in series.get("loss") or []), default=None)


@sync
async def test_a_logging_jobs_chart_is_redrawn_once_a_period_not_at_every_line(fake_gpus, logging_job,
                                                                               monkeypatch):
    fake_gpus("eight")
    monkeypatch.setattr("tui.screens.monitor.CHART_PERIOD_S", (1.0, 1.0))
    record, log_line = logging_job
    draws = counting(monkeypatch, LossChart, "show")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_monitor(pilot, record)
        await pilot.pause(0.2)
        screen = app.screen
        assert loss_steps(draws[-1]) == 100  # the history is drawn at once
        drawn = len(draws)
        for _ in range(12):  # a line every 0.1 s: the summary follows each, the chart once a second
            last = log_line()
            await pilot.pause(0.1)
        await wait_for(pilot, lambda: f"loss {loss_at(last):.4g}" in screen_text(app), what="the summary")
        await wait_for(pilot, lambda: loss_steps(draws[-1]) == last, 5, "the chart to catch up")
        assert len(draws) - drawn <= 4, f"{len(draws) - drawn} redraws for 12 lines"
        # Nothing new: no redraw. The lr tab, opened now, is drawn at once with what came meanwhile.
        drawn = len(draws)
        await pilot.pause(1.5)
        assert len(draws) == drawn
        await pilot.press("2")
        await pilot.pause(0.2)
        assert "learning rate" in screen_text(app)
        assert screen._charted["lr"] == (screen.snapshot["series"]["lr"])


@sync
async def test_an_empty_charts_first_points_are_drawn_at_once_not_a_period_later(fake_gpus, logging_job,
                                                                                  monkeypatch):
    """The Monitor opened before the job's first line: that line's loss shows at once, though the
    (empty) chart was drawn a moment ago and the period between redraws is long."""
    fake_gpus("eight")
    monkeypatch.setattr("tui.screens.monitor.CHART_PERIOD_S", (30.0, 30.0))
    record, log_line = logging_job
    (record.run_path / TS / "vis_data" / "scalars.json").write_text("")
    draws = counting(monkeypatch, LossChart, "show")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_monitor(pilot, record)
        await wait_for(pilot, lambda: draws, 5, "the empty chart")
        assert loss_steps(draws[-1]) is None
        first = log_line()
        await wait_for(pilot, lambda: draws and loss_steps(draws[-1]) == first, 5, "the first loss drawn")
        assert "loss_rpn_cls" in screen_text(app)
        drawn = len(draws)
        log_line()  # the chart has points now: the next line waits for the period
        await pilot.pause(1.5)
        assert len(draws) == drawn


@sync
async def test_opening_the_monitor_builds_its_loss_figure_once(fake_gpus, logging_job, monkeypatch):
    # The loss chart drew a placeholder figure for the frame before the history.
    fake_gpus("eight")
    record, _ = logging_job
    figures = counting(monkeypatch, Plot, "build")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_monitor(pilot, record)
        await pilot.pause(0.5)
        text = screen_text(app)
        assert "loss (smoothed)" in text and "Smoothing" in text and "Back" in text
        assert len(figures) == 1


@sync
async def test_screens_under_another_one_do_not_refresh(fake_gpus, logging_job, monkeypatch):
    fake_gpus("eight")
    record, _ = logging_job
    loads = counting(monkeypatch, JobsScreen, "action_refresh")
    panel_shows = counting(monkeypatch, GpuPanel, "show_inventory")
    app = make_app(probe_interval=0.1, jobs_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(panel_shows) >= 3, what="Home's GPU panel to follow the probe")
        await pilot.press("j")
        await wait_for(pilot, lambda: len(loads) >= 3, what="the jobs list to reload")
        shown = len(panel_shows)
        await pilot.pause(0.5)
        assert len(panel_shows) == shown  # Home is in the other mode: its panel waits
        await pilot.press("enter")  # the monitor covers the jobs list
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot, what="metrics")
        loaded = len(loads)
        await pilot.pause(0.6)
        assert len(loads) == loaded
        await pilot.press("escape")  # the list shows again: reloaded at once, then every interval
        await wait_for(pilot, lambda: len(loads) >= loaded + 2, what="the jobs list to reload again")
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("h")  # Home shows again: its panel catches up at once
        await wait_for(pilot, lambda: len(panel_shows) > shown, what="the GPU panel to catch up")


@sync
async def test_each_screens_styles_join_when_it_first_opens(fake_gpus, logging_job):
    fake_gpus("eight")
    record, _ = logging_job
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        sources = {os.path.basename(path) for path, _ in app.stylesheet.source}
        assert "app.tcss" in sources and not sources & {"jobs.tcss", "monitor.tcss", "dialogs.tcss", "plan.tcss"}
        await open_monitor(pilot, record)
        assert app.screen.query_one("#map-left").styles.width.value == 52  # a monitor.tcss rule
        await pilot.press("x")  # stop: asks first, in a dialog styled by dialogs.tcss
        await pilot.pause()
        assert app.screen.query_one(".dialog").styles.max_width.value == 90
        await pilot.press("n")
        await pilot.pause()
        assert psutil.pid_exists(record.pid)


def test_startup_leaves_the_jobs_screen_the_registry_and_the_gpu_probe_for_later():
    later = {"psutil", "launcher.jobs.registry", "launcher.hardware.gpu_probe", "pynvml", "tui.screens.jobs",
             "tui.screens.monitor", "tui.screens.plan", "tui.watcher"}
    assert not modules_after("import tui.app") & later


@sync
async def test_the_gc_paused_for_start_up_runs_again_once_the_first_frame_is_drawn(fake_gpus):
    gc.disable()  # as tui/entry.py leaves it before importing Textual
    try:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert gc.isenabled()
    finally:
        gc.enable()
