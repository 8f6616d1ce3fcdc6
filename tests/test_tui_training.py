"""The CPU demo launched for real from the Plan screen (forced past its shortened schedule), then
loss and a coco/bbox_mAP arriving in the Monitor. Real torchrun, 2 gloo workers, a tiny shapes set."""

from __future__ import annotations

import time

import pytest

from launcher.jobs import local as jobs
from launcher.jobs import job_status, registry, status_words
from test_tui_app import make_app, notes, settle, wait_for
from tui_support import open_demo_plan, screen_text, sync
from training_helpers import make_tiny_dataset, needs_stack
from tui.screens.dialogs import ConfirmDialog
from tui.screens.monitor import MonitorScreen
from tui.screens.plan import PlanScreen

pytestmark = [needs_stack, pytest.mark.training]

SHORT = "train_cfg.max_epochs=1 default_hooks.logger.interval=1 param_scheduler.0.end=2"


@sync
async def test_launch_the_cpu_demo_from_the_plan_and_watch_loss_then_map(fake_gpus, tmp_path):
    fake_gpus("none")
    data = make_tiny_dataset(tmp_path)
    app = make_app()
    app.watch_interval = 0.5
    async with app.run_test(size=(100, 32)) as pilot:
        plan = await open_demo_plan(app, pilot)
        assert isinstance(plan, PlanScreen) and plan.preset.name == "demo-cpu"
        for widget_id, value in (("imgs", "1"), ("seed", "0"), ("data-root", str(data)), ("cfg", SHORT)):
            plan.query_one(f"#{widget_id}").value = value
        await pilot.pause()
        assert plan.proposal.lr == 0.001  # 0.002 × (1×2×1)/4
        await wait_for(pilot, lambda: plan.plan is not None or plan.plan_error, 300, "the checklist")
        assert plan.plan is not None, plan.plan_error
        assert {c.id for c in plan.plan.checks if c.status == "fail"} == {"schedule"}, plan.plan.checks
        await pilot.press("ctrl+l")  # refused: the schedule is cut short
        await pilot.pause()
        assert "1 check(s) fail: schedule" in notes(app) and registry.load_all() == []
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 300, "the launch")
        monitor = app.screen
        record = monitor.record
        try:
            assert job_status.status(record) == status_words.RUNNING
            await wait_for(pilot, lambda: "loss" in ((monitor.snapshot or {}).get("latest") or {}), 300,
                           "the first loss")
            # Drawn at once, not a redraw period later: the chart had nothing before this line.
            await wait_for(pilot, lambda: "loss_rpn_cls" in screen_text(app), 5, "the loss chart")
            await wait_for(pilot, lambda: (monitor.snapshot or {}).get("map_by_epoch"), 600, "coco/bbox_mAP")
            await pilot.press("3")
            await wait_for(pilot, lambda: "best mAP" in screen_text(app) and "box mAP per epoch" in screen_text(app),
                           5, "the mAP tab")
            row = monitor.snapshot["map_by_epoch"][0]
            assert row["epoch"] == 1 and row["bbox_mAP"] is not None
            deadline = time.monotonic() + 120
            while job_status.status(record) == status_words.RUNNING and time.monotonic() < deadline:
                await pilot.pause(1)
            assert job_status.status(record) == status_words.SUCCEEDED
        finally:
            if job_status.status(record) == status_words.RUNNING:
                jobs.stop(record, grace=5)
