"""What a new user meets in the TUI (issue 24): navigation from any screen, only the keys
that apply to the highlighted job, what matters kept in view at 80x24, help on ? / F1, and
messages that name the TUI's own fields and keys. Pilot tests on simulated GPUs, the real
registry and recorded MMEngine runs."""

from __future__ import annotations

import pytest

from recorded_inspection import use_recorded_inspection
from test_tui_support import add_job, make_app, open_monitor, screen_text, sync, wait_for
from tui.screens.home import HomeScreen
from tui.screens.jobs import JobsScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.plan import PlanScreen


@pytest.fixture
def recorded_env(monkeypatch):
    """make_plan without its seconds-long subprocess (the recorded inspection); the rest is real."""
    use_recorded_inspection(monkeypatch)


async def settle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def press_and_wait(pilot, key: str, screen_type: type) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: type(pilot.app.screen) is screen_type, what=f"{key} to show {screen_type.__name__}")


@sync
async def test_j_shows_the_jobs_list_and_h_the_home_from_any_screen(fake_gpus, recorded_env):
    fake_gpus("eight")
    record = add_job("20261128-231000-aaaa", status="succeeded", epochs=2, max_epochs=2)
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        # A Monitor as a launch from Plan opens it: j shows the list, not nothing.
        await open_monitor(pilot, record)
        await press_and_wait(pilot, "j", JobsScreen)
        await settle(app, pilot)
        # A Monitor opened from the list; h, then j: the list again, not the old Monitor.
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), what="the monitor")
        await press_and_wait(pilot, "h", HomeScreen)
        await press_and_wait(pilot, "j", JobsScreen)
        assert not any(isinstance(s, MonitorScreen) for s in app.screen_stack)
        # From a Plan: h shows Home, and j then h does not bring the Plan back either.
        app.open_plan("r50-fpn-1x")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen), what="the plan")
        await press_and_wait(pilot, "h", HomeScreen)
        app.open_plan("r50-fpn-1x")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen), what="the plan")
        await press_and_wait(pilot, "j", JobsScreen)
        await press_and_wait(pilot, "h", HomeScreen)
        assert "Presets" in screen_text(app)
