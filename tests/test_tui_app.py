"""Pilot tests of the TUI: simulated GPUs (the fake NVML edge), real presets, lr rule, registry and
recorded MMEngine logs. Only make_plan's subprocess is replaced (by a recorded inspection) where a test is
about the UI around it."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import psutil
import pytest
from rich.cells import cell_len
from textual.app import App
from textual.binding import Binding
from textual.widgets import Button, DataTable, SelectionList, Static

from conftest import modules_after
from launcher.jobs import identity, job_status, registry, status_words
from recorded_inspection import use_recorded_inspection
from tui_support import add_job, make_app, screen_text, settle, sync, wait_for
from tui.screens.dialogs import ConfirmDialog
from launcher.planning.presets import load_presets
from tui.screens.home import HomeScreen, preset_rows
from tui.screens.jobs import JobsScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.plan import PlanScreen
from tui.widgets.key_bar import KeyBar

SIZE = (100, 32)




def notes(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


@pytest.fixture
def recorded_env(monkeypatch):
    """make_plan without its 5 s subprocess: the training interpreter's recorded inspection;
    everything else in make_plan (preset, devices, lr, every check) runs for real."""
    use_recorded_inspection(monkeypatch)


@sync
async def test_home_lists_the_simulated_gpus_and_the_presets(fake_gpus, recorded_env):
    fake_gpus("eight")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert text.count("A100-SXM4-80GB") == 8
        assert "8/8 free" in text and "driver 550.54.15" in text
        for name in ("demo-cpu", "r50-fpn-1x", "r101-fpn-ms-3x"):
            assert name in text
        assert isinstance(app.screen, HomeScreen) and app.screen.highlighted_preset == "r50-fpn-1x"
        assert "COCO box AP 37.4" in text  # the highlighted preset's description
        # A click shows another preset's details; a second click on it opens its plan.
        names = sorted(app.catalog.presets)
        row = names.index("r101-fpn-2x")
        await pilot.click("#presets", offset=(2, row))
        await pilot.pause()
        assert app.screen.highlighted_preset == "r101-fpn-2x" and isinstance(app.screen, HomeScreen)
        assert "COCO box AP 39.8" in str(app.screen.query_one("#preset-detail").render())
        await pilot.press("down")
        assert app.screen.highlighted_preset == names[row + 1]
        await pilot.click("#presets", offset=(2, row + 1))
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen), what="the plan to open")
        assert app.screen.preset.name == names[row + 1]


def test_the_presets_columns_line_up_in_terminal_cells():
    presets = load_presets().presets
    wide = dataclasses.replace(presets["r50-fpn-1x"], name="検出-r50")  # two cells a character
    heading, options = preset_rows({**presets, wide.name: wide})
    lr_column = heading.plain.index("lr @ batch")
    assert [o.id for o in options] == sorted([*presets, wide.name])
    for option in options:
        text = option.prompt.plain
        assert cell_len(text[:text.index(" 0.0") + 1]) == lr_column, text  # every lr starts with 0.0


@sync
async def test_busy_gpu_shows_its_process(fake_gpus):
    fake_gpus("four_one_busy")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "busy (1)" in text and "pid 999999" in text and "3/4 free: 0,2,3" in text


@sync
async def test_pick_a_preset_then_the_lr_follows_the_gpu_count(fake_gpus, recorded_env):
    fake_gpus("eight")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")  # r50-fpn-1x is highlighted
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PlanScreen) and screen.preset.name == "r50-fpn-1x"
        assert "0.02 × (1×8×2)/16 = 0.02" in screen_text(app)
        gpus = screen.query_one("#gpu-select", SelectionList)
        assert gpus.has_focus and sorted(gpus.selected) == list(range(8))
        for _ in range(4):  # untick GPUs 0-3 with the keyboard
            await pilot.press("space", "down")
        await pilot.pause()
        assert sorted(gpus.selected) == [4, 5, 6, 7]
        assert screen.proposal.lr == 0.01
        text = screen_text(app)
        assert "0.02 × (1×4×2)/16 = 0.01" in text and " 0.01 " in text
        # images per GPU are typed: 4 GPUs × 4 images is the base batch again
        imgs = screen.query_one("#imgs")
        imgs.focus()
        await pilot.press("backspace", "4")
        await pilot.pause()
        assert screen.proposal.lr == 0.02 and "0.02 × (1×4×4)/16 = 0.02" in screen_text(app)
        await pilot.press("backspace", "0")  # 0 images: a one-line error, no crash
        await pilot.pause()
        assert screen.proposal is None and "images per GPU must be >= 1" in screen_text(app)
        await settle(app, pilot)


@sync
async def test_no_gpu_preselects_the_cpu_demo_and_plans_gloo_workers(fake_gpus, recorded_env):
    fake_gpus("none")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "No GPU found: NVML unavailable: LibraryNotFound." in text
        assert "Training runs on CPU with gloo workers." in text
        assert app.screen.highlighted_preset == "demo-cpu"
        await pilot.press("p")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PlanScreen) and screen.preset.name == "demo-cpu" and screen.cpu
        assert "0.002 × (1×2×2)/4 = 0.002" in screen_text(app)
        screen.query_one("#nproc").value = "1"
        await pilot.pause()
        assert screen.proposal.lr == 0.001 and "0.002 × (1×1×2)/4 = 0.001" in screen_text(app)
        await settle(app, pilot)
        # A blank seed is the config's own: the demo's config sets 0, so the field says so (short enough not to wrap in it).
        await wait_for(pilot, lambda: screen.plan is not None, 60, "the checklist")
        await pilot.pause()
        assert screen.query_one("#seed").placeholder == "0 (cfg)" and "seed        0 (cfg)" in screen_text(app)
        assert "seed 0" in screen.plan.checks[[c.id for c in screen.plan.checks].index("seed")].detail


@sync
async def test_checklist_shows_fix_hints_and_launch_is_refused_while_a_check_fails(fake_gpus):
    # The real make_plan (resolves the mmdet config in the training interpreter): no COCO here, so it fails.
    fake_gpus("eight")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_plan("r50-fpn-1x")
        await pilot.pause()
        screen = app.screen
        await wait_for(pilot, lambda: screen.plan is not None or screen.plan_error is not None, 120, "the checklist")
        assert screen.plan is not None, screen.plan_error
        assert screen.plan.status == "fail"
        assert screen.query_one("#seed").placeholder == "random"  # mmdet's config sets no seed
        text = screen_text(app)
        assert "Checklist: FAIL" in text and "FAIL" in text and "fix:" in text
        failing = [c for c in screen.plan.checks if c.status == "fail"]
        # The cursor starts on the first check that is not a pass, its fix shown below; enter: full text.
        screen.query_one("#checklist").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "check: " in screen_text(app) and "fix:" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert "Launch refused" in notes(app) or "check(s) fail" in notes(app)
        assert failing[0].id in notes(app)
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        text = screen_text(app)
        assert "Force launch?" in text and f"• {failing[0].id}: " in text, text
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen and not screen.launching
        assert registry.load_all() == []  # nothing was started


def _detached_sleeper(job_id: str) -> psutil.Process:
    # Marked as the job's, as launch marks every process of a job (launcher.jobs.identity).
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **identity.marker_env(job_id)})
    return psutil.Process(proc.pid)


@pytest.fixture
def sleeper_job():
    """A registered 'running' job whose process is a detached sleeper (safe to stop)."""
    proc = _detached_sleeper("20261130-120000-dddd")
    record = add_job("20261130-120000-dddd", status="succeeded", epochs=2)
    (record.run_path / registry.EXIT_FILE).unlink()
    record.pid = record.pgid = proc.pid
    record.create_time = proc.create_time()
    registry.save(record)
    yield record, proc
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait() if proc.is_running() else None


@sync
async def test_jobs_screen_lists_the_registry(fake_gpus):
    fake_gpus("eight")
    add_job("20261128-231000-aaaa", status="succeeded", epochs=12)
    add_job("20261129-081500-bbbb", status="failed", epochs=2, traceback=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(app, pilot)
        assert isinstance(app.screen, JobsScreen)
        text = screen_text(app)
        assert "20261128-231000-aaaa" in text and "succeeded" in text
        assert "20261129-081500-bbbb" in text and "failed" in text
        assert "2 job(s), 0 running" in text
        table = app.screen.query_one("#jobs", DataTable)
        assert table.get_row_at(0)[1] == "20261129-081500-bbbb"  # newest first
        assert "epoch 12/12" in text and "37.4 (ep 12)" in text and "gpu 0,1,2,3" in text


@sync
async def test_the_jobs_detail_line_keeps_the_devices_in_view_on_80_columns(fake_gpus):
    # At 80 columns the table's devices and start columns are cut; the detail line repeats them.
    fake_gpus("eight")
    add_job("20261129-081500-bbbb", status="failed", epochs=2)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("j")
        await settle(app, pilot)
        lines = screen_text(app).splitlines()
        assert not any("started" in line and "devices" in line for line in lines)  # the cut header
        assert any("r50-fpn-1x gpu 0,1,2,3 · started " in line and " ago · pid " in line for line in lines)


@sync
async def test_jobs_screen_names_the_rank_that_failed_first(fake_gpus, tmp_path):
    # The same status note as `frcnn-tui jobs` (launcher.jobs.summary.status_note): a failed
    # job's row says which rank failed first, from torchrun's report in its stderr.log.
    from pathlib import Path

    from test_rank_failure import RAISED, torchrun_report

    fake_gpus("eight")
    record = add_job("20261129-081500-cccc", status="failed", epochs=2)
    run_dir = Path(record.run_dir)
    (run_dir / "stderr.log").write_text(torchrun_report(run_dir, {1: (1, RAISED.format("boom on 1"))}))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(app, pilot)
        assert "failed (rank 1)" in screen_text(app)


@sync
async def test_quitting_never_stops_a_job_and_reopening_finds_it(fake_gpus, sleeper_job):
    fake_gpus("eight")
    record, proc = sleeper_job
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(app, pilot)
        assert record.id in screen_text(app) and "1 running" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot, what="monitor")
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code in (0, None)
    assert proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE  # the job outlived the TUI
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(again, pilot)
        assert record.id in screen_text(again) and "running" in screen_text(again)


@sync
async def test_stop_asks_first_then_stops_the_job(fake_gpus, sleeper_job):
    fake_gpus("eight")
    record, proc = sleeper_job
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog) and "Stop this job?" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert proc.is_running()
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: "stopped job" in notes(app), 40, "the stop")
        await settle(app, pilot)
        assert job_status.status(registry.find(record.id)) == status_words.STOPPED
        assert "stopped" in screen_text(app)


@sync
async def test_resume_without_a_checkpoint_says_why(fake_gpus):
    fake_gpus("eight")
    add_job("20261129-081500-bbbb", status="failed", epochs=2, traceback=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(app, pilot)
        await pilot.press("r")
        await settle(app, pilot)
        assert "has no checkpoint to resume from" in notes(app)


@sync
async def test_monitor_shows_loss_lr_map_against_the_reference(fake_gpus):
    fake_gpus("eight")
    add_job("20261128-231000-aaaa", status="succeeded", epochs=12)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(app, pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot, what="metrics")
        await pilot.pause(0.2)
        screen = app.screen
        text = screen_text(app)
        assert "succeeded" in text and "epoch 12/12" in text and "100%" in text
        assert "epoch 12/12" in text and "best mAP 37.4 (ep 12) · target 37.4 (+0.0)" in text
        assert "loss (smoothed)" in text and "loss_rpn_cls" in text
        await pilot.press("s")
        await pilot.pause()
        assert "loss (smoothed)" not in screen_text(app) and "loss" in screen_text(app)
        await pilot.press("2")
        await pilot.pause()
        assert "learning rate" in screen_text(app)
        await pilot.press("3")
        await pilot.pause()
        text = screen_text(app)
        assert "box mAP per epoch" in text and "target 37.4 at epoch 12 +0.0" in text and "best 37.4 at epoch 12" in text
        assert screen.query_one("#map-table", DataTable).row_count == 12
        await pilot.press("4")
        await pilot.pause()
        assert "Epoch(train) [12][100/100]" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)


@sync
async def test_monitor_banner_on_nan_and_errors_stand_out(fake_gpus):
    fake_gpus("eight")
    add_job("20261129-081500-bbbb", status="failed", epochs=3, nan_at=250, traceback=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_monitor(registry.find("20261129-081500-bbbb"))
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot, what="metrics")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "⚠ NaN / inf loss: non-finite loss at step 250" in text and "failed" in text
        await pilot.press("4")
        await pilot.pause()
        text = screen_text(app)
        assert "traceback ends: RuntimeError: CUDA out of memory" in text
        assert "4 Log ⚠" in text
        log = app.screen.query_one("#log-view")
        styled = [strip for strip in log.lines if "RuntimeError" in strip.text]
        assert styled and any(seg.style and seg.style.bold for seg in styled[0])


@sync
async def test_compare_puts_runs_next_to_the_reference(fake_gpus):
    fake_gpus("eight")
    add_job("20261128-231000-aaaa", status="succeeded", epochs=12)
    add_job("20261129-081500-bbbb", status="succeeded", epochs=6)
    app = make_app()
    async with app.run_test(size=(140, 32)) as pilot:
        await pilot.press("j")
        await settle(app, pilot)
        await pilot.press("c")
        await settle(app, pilot)
        text = screen_text(app)
        assert "r50-fpn-1x's model-zoo AP on 8 x V100" in text
        # The preset's AP is reached at epoch 12: a target there, not a gap at epoch 6 (issue 24 item 3).
        assert "37.4 final, ep 12/12" in text and "target 37.4 (+0.0)" in text
        assert "34.7 latest, ep 6/12" in text and "target 37.4 (ep 12)" in text and "-2.7" not in text


@sync
async def test_command_palette_opens_a_plan(fake_gpus, recorded_env):
    fake_gpus("eight")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"plan r101-fpn-2x")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, PlanScreen) and app.screen.preset.name == "r101-fpn-2x"
        await settle(app, pilot)


def test_startup_imports_no_training_stack_and_no_charts():
    heavy = {"torch", "mmcv", "mmdet", "mmengine", "numpy", "cv2", "plotext", "textual_plotext"}
    assert not {m for m in modules_after("import tui.app") if m.split(".")[0] in heavy}


@sync
async def test_quit_waits_while_a_launch_is_starting_a_job(fake_gpus, recorded_env, monkeypatch):
    import threading

    from launcher.errors import CheckFailed

    release = threading.Event()

    def slow_launch(req, force=False):
        release.wait(10)
        raise CheckFailed("launch refused: stand-in for this test")

    monkeypatch.setattr("launcher.jobs.local.launch", slow_launch)
    fake_gpus("eight")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await pilot.pause(0.8)
        await settle(app, pilot)
        await pilot.press("ctrl+f", "y")  # forced: the real checklist fails here (no COCO copy)
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and "quit again once it is done" in notes(app)
        await pilot.press("h")  # nor does Home take the Plan away, whose launch is not done
        await pilot.pause()
        assert isinstance(app.screen, PlanScreen) and "press h again once it is done" in notes(app)
        release.set()
        await wait_for(pilot, lambda: "stand-in for this test" in notes(app), what="the launch to end")
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


class KeyedBox(Static, can_focus=True):
    BINDINGS = [Binding("z", "zap", "Zap", tooltip="Zap the box"), Binding("d", "dull", "Dull")]
    zaps = 0

    def action_zap(self) -> None:
        self.zaps += 1

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return None if action == "dull" else True  # None: shown, but disabled (False would hide it)


class KeyBarApp(App):
    def compose(self):
        yield Button("one", id="one")
        yield Button("two", id="two")
        yield KeyedBox("keyed", id="keyed")
        yield KeyBar()


@sync
async def test_the_key_bar_shows_the_focused_widgets_keys_and_a_click_presses_one():
    app = KeyBarApp()
    async with app.run_test(size=(60, 8)) as pilot:
        app.query_one("#one").focus()
        await pilot.pause()
        bar = app.query_one(KeyBar)
        assert "Zap" not in bar.render().plain and "^p palette" in bar.render().plain
        box = app.query_one(KeyedBox)
        box.focus()
        await wait_for(pilot, lambda: " z Zap " in bar.render().plain, what="the focused box's key")
        assert "z  Zap the box" in bar.tooltip and "d  Dull" in bar.tooltip
        # The disabled key is dimmed and does nothing when clicked; the enabled one runs its action.
        plain = bar.render().plain
        await pilot.click(KeyBar, offset=(plain.index("Dull"), 0))
        await pilot.pause()
        assert box.zaps == 0
        await pilot.click(KeyBar, offset=(plain.index("Zap"), 0))
        await wait_for(pilot, lambda: box.zaps == 1, what="the click to press z")
        app.query_one("#one").focus()
        await wait_for(pilot, lambda: "Zap" not in bar.render().plain, what="the key to go")
        assert "Zap" not in (bar.tooltip or "")
        # Focus moving between widgets with the same keys repaints nothing.
        repaints = []
        original = bar.refresh
        bar.refresh = lambda *a, **kw: repaints.append(1) or original(*a, **kw)
        app.query_one("#two").focus()
        await pilot.pause()
        app.query_one("#one").focus()
        await pilot.pause()
        assert not repaints
