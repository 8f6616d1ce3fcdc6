"""The Plan screen's data field takes your own export too: a Roboflow-style folder typed there is planned
as --data (its classes set in the config, the `dataset` check in the checklist), COCO's tree as before."""

from __future__ import annotations

from pathlib import Path

from data_helpers import roboflow_from
from test_tui_support import make_app, screen_text, sync, wait_for
from training_helpers import make_tiny_dataset
from tui.screens.plan import PlanScreen


async def settle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


@sync
async def test_plan_screen_plans_a_roboflow_export_typed_in_the_data_field(fake_gpus, tmp_path):
    fake_gpus("none")
    export = roboflow_from(make_tiny_dataset(tmp_path), tmp_path / "my export")
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")  # demo-cpu is preselected without a GPU
        await settle(app, pilot)
        plan = app.screen
        assert isinstance(plan, PlanScreen) and plan.preset.name == "demo-cpu"
        plan.query_one("#data-root").value = str(export)
        await pilot.pause()
        typed = str(export)
        await wait_for(pilot, lambda: plan.plan_error or (plan.plan is not None and typed in (
            plan.plan.request.data, plan.plan.request.data_root)), 300, "the plan of the typed folder")
        assert plan.plan is not None, plan.plan_error
        assert (plan.plan.request.data, plan.plan.request.data_root) == (typed, None)
        assert plan.plan.resolved["classes"] == ["triangle", "ellipse", "rectangle"]
        assert plan.plan.resolved["num_classes"] == 3
        dataset = next(c for c in plan.plan.checks if c.id == "dataset")
        assert dataset.status == "warn" and "warmup 50 iterations" in dataset.detail
        assert "dataset" in screen_text(app)
