"""What a new user meets in the TUI (issue 24): navigation from any screen, only the keys
that apply to the highlighted job, what matters kept in view at 80x24, help on ? / F1, and
messages that name the TUI's own fields and keys. Pilot tests on simulated GPUs, the real
registry and recorded MMEngine runs."""

from __future__ import annotations

import pytest

from recorded_inspection import use_recorded_inspection
from tui_support import add_job, make_app, open_monitor, screen_text, settle, sync, wait_for
from tui.screens.home import HomeScreen
from tui.screens.jobs import JobsScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.plan import PlanScreen


@pytest.fixture
def recorded_env(monkeypatch):
    """make_plan without its seconds-long subprocess (the recorded inspection); the rest is real."""
    use_recorded_inspection(monkeypatch)


@pytest.fixture
def finished_job(fake_gpus):
    """Eight simulated GPUs and one job that succeeded at its last epoch (2/2)."""
    fake_gpus("eight")
    return add_job("20261128-231000-aaaa", status="succeeded", epochs=2, max_epochs=2)




async def show_plan(pilot, preset: str = "r50-fpn-1x") -> PlanScreen:
    """Opens PRESET's Plan and waits for its checklist."""
    app = pilot.app
    await settle(app, pilot)
    app.open_plan(preset)
    await wait_for(pilot, lambda: getattr(app.screen, "plan", None) is not None, what="the checklist")
    await settle(app, pilot)
    return app.screen


async def show_jobs(pilot) -> JobsScreen:
    """j, then waits for the job list's first load (a worker)."""
    await pilot.press("j")
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "loaded", False), what="the job list")
    await pilot.pause()
    return pilot.app.screen


async def press_and_wait(pilot, key: str, screen_type: type) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: type(pilot.app.screen) is screen_type, what=f"{key} to show {screen_type.__name__}")


@sync
async def test_j_shows_the_jobs_list_and_h_the_home_from_any_screen(finished_job, recorded_env):
    record = finished_job
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


def key_bar_text(app) -> str:
    """The key bar as the terminal shows it (its last line), cut where the screen cuts it."""
    return screen_text(app).splitlines()[-1]


def notes(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


@sync
async def test_the_jobs_footer_offers_only_what_applies_to_the_highlighted_job(fake_gpus):
    from textual.widgets import DataTable

    fake_gpus("eight")
    # Newest first: running, failed, then the finished one.
    finished = add_job("20261128-231000-aaaa", status="succeeded", epochs=2, max_epochs=2)
    add_job("20261129-081500-bbbb", status="failed", epochs=1, max_epochs=2)
    add_job("20261129-093000-cccc", status="running", epochs=1, max_epochs=2)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show_jobs(pilot)
        table = app.screen.query_one("#jobs", DataTable)
        shown = {}
        for row in range(3):
            table.move_cursor(row=row)
            await pilot.pause()
            shown[app.screen.highlighted_id] = key_bar_text(app)
        running, failed, done = (shown[j] for j in ("20261129-093000-cccc", "20261129-081500-bbbb", finished.id))
        assert "Stop…" in running and "Resume" not in running
        assert "Resume" in failed and "Stop…" not in failed
        assert "Resume" not in done and "Stop…" not in done and "Monitor" in done
        # On 80 columns the quit key is never cut, whatever the job offers.
        assert all(text.rstrip().endswith("q Quit") for text in shown.values()), shown
        # r on the finished job starts nothing (the binding does not apply to it).
        await pilot.press("r")
        await settle(app, pilot)
        assert "resumed" not in notes(app)
        # Nor does the command palette offer them (it does for the failed job).
        for row, offered in ((2, False), (1, True)):
            table.move_cursor(row=row)
            await pilot.pause()
            await pilot.press("ctrl+p", *"resume job")
            await wait_for(pilot, lambda: "No matches found" in screen_text(app) or "Resume job" in screen_text(app),
                           what="the palette's answer")
            assert ("Resume job" in screen_text(app)) is offered
            await pilot.press("escape")
            await pilot.pause()
        table.move_cursor(row=2)
        # Its Monitor offers no Stop… either; a running job's does.
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot, what="metrics")
        await pilot.pause()
        assert "Smoothing" in key_bar_text(app) and "Stop…" not in key_bar_text(app)
        await pilot.press("escape")
        table.move_cursor(row=0)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot, what="metrics")
        await pilot.pause()
        assert "x Stop…" in key_bar_text(app)


@sync
async def test_the_quit_key_stays_in_view_on_a_narrow_terminal(fake_gpus):
    # More keys than columns: the screen's keys are cut with an ellipsis, never q Quit.
    fake_gpus("eight")
    add_job("20261129-093000-cccc", status="running", epochs=1, max_epochs=2)
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await show_jobs(pilot)
        bar = key_bar_text(app)
        assert bar.rstrip().endswith("… q Quit") and bar.startswith(" m Monitor "), bar


@sync
async def test_80x24_keeps_the_failing_checks_and_the_master_field_in_view(fake_gpus, recorded_env):
    # Eight GPUs and no COCO here: the checklist fails, with more rows than the box shows.
    fake_gpus("eight")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show_plan(pilot)
        text = screen_text(app)
        failing = [c.id for c in screen.plan.checks if c.status == "fail"]
        assert failing and "Checklist: FAIL" in text
        for check in failing:
            assert f"FAIL  {check}" in text, text
        assert "host:port" in text  # the master field's placeholder, not "host:por"


@sync
async def test_80x24_jobs_table_has_the_name_right_after_the_id(fake_gpus):
    import dataclasses

    from launcher.jobs import registry

    fake_gpus("eight")
    registry.save(dataclasses.replace(add_job("20261129-081500-bbbb", status="failed", epochs=2), name="my-first-run"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show_jobs(pilot)
        lines = screen_text(app).splitlines()
        header = next(line for line in lines if " id " in line)
        assert header.split()[1:3] == ["id", "name"], header
        assert any("20261129-081500-bbbb  my-first-run" in line for line in lines)


@sync
async def test_plan_messages_name_the_tuis_fields_and_keys_not_cli_flags(fake_gpus, recorded_env):
    from textual.widgets import Input

    from conftest import run_cli

    fake_gpus("eight")
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await show_plan(pilot)
        await pilot.press(*["space", "down"] * 4)  # four of the eight GPUs
        screen.query_one("#lr", Input).value = "0.02"  # the preset's lr for batch 16, unscaled for batch 8
        await wait_for(pilot, lambda: screen.plan is not None and screen.plan.proposal.lr == 0.02
                       and screen.planned_generation == screen.generation, what="the checklist at lr 0.02")
        await settle(app, pilot)
        lr_row = [c.id for c in screen.shown_checks].index("lr")
        screen.query_one("#checklist").move_cursor(row=lr_row)
        await pilot.pause()
        text = screen_text(app)
        assert "or ctrl+f (Force launch…) to keep it" in text and "--force" not in text, text
        # Two nodes and no master: the field to fill is named as the form names it.
        screen.query_one("#lr", Input).value = ""
        screen.query_one("#nodes", Input).value = "2"
        await wait_for(pilot, lambda: screen.plan_error is not None, what="the refusal")
        await settle(app, pilot)
        text = screen_text(app)
        assert "nodes > 1 needs the master host:port field" in text and "--master-addr" not in text, text
    # The CLI keeps its own words.
    cli = run_cli("plan", "--preset", "r50-fpn-1x", "--nodes", "2")
    assert cli.returncode == 2 and "--nodes > 1 needs --master-addr HOST and --port PORT" in cli.stderr


@sync
async def test_question_mark_and_f1_open_the_key_list_and_the_palette_has_report(finished_job):
    from textual.widgets import HelpPanel

    record = finished_job
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen.query(HelpPanel), what="? to open the help")
        await pilot.pause()
        assert screen_text(app).count("Plan preset") == 2  # in the key list, beside the key bar's
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: not app.screen.query(HelpPanel), what="? again to close it")
        await open_monitor(pilot, record)
        await pilot.press("f1")
        await wait_for(pilot, lambda: app.screen.query(HelpPanel), what="F1 to open the help")
        await pilot.pause()
        text = screen_text(app)
        assert "Smoothing" in text and "Loss" in text  # the Monitor's keys, the tab keys too
        await pilot.press("f1")
        await wait_for(pilot, lambda: not app.screen.query(HelpPanel), what="F1 again to close it")
        # The Monitor's palette has the report (w too) and the smoothing.
        assert "w Report" in key_bar_text(app)
        for typed, found in (("report", "Write report"), ("smoothing", "Toggle loss smoothing")):
            await pilot.press("ctrl+p")
            await pilot.press(*typed)
            await wait_for(pilot, lambda: found in screen_text(app), what=f"{found} in the palette")
            await pilot.press("escape")
            await pilot.pause()
