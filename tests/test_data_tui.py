"""The Plan screen's data field takes your own export too: a Roboflow-style folder typed there is planned
as --data (its classes set in the config, the `dataset` check in the checklist), COCO's tree as before."""

from __future__ import annotations

from pathlib import Path

from data_helpers import class_names, roboflow_from
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


@sync
async def test_dataset_panel_shows_the_check_and_the_boxes_at_80x24(fake_gpus, tmp_path):
    from textual.widgets import Static

    from tui.screens.dataset import DatasetScreen

    fake_gpus("none")
    export = roboflow_from(make_tiny_dataset(tmp_path), tmp_path / "my export")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")  # demo-cpu is preselected without a GPU
        await settle(app, pilot)
        plan = app.screen
        assert isinstance(plan, PlanScreen)
        await pilot.press("ctrl+d")  # no data of your own yet: said, nothing opens
        await pilot.pause()
        assert app.screen is plan and any("data field first" in n.message for n in app._notifications)
        plan.query_one("#data-root").value = str(export)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasetScreen), 10, "the Dataset panel")
        panel = app.screen
        await wait_for(pilot, lambda: panel.report is not None or "could not" in screen_text(app), 60, "the check")
        report = str(panel.query_one("#dataset-report", Static).render())
        for label, (cid, name) in enumerate(zip((12, 3, 7), class_names(export))):
            assert f"{label}  id {cid:<4} {name}" in report, report  # label order = the file's category order
        assert "WARN  train: 1 categories have no annotations" in report and "fix: nothing to do" in report
        assert "Dataset" in screen_text(app) and "classes (3" in screen_text(app)
        # The boxes: drawn in the training interpreter, then shown by textual-image (half-blocks or
        # Unicode here: Pilot's terminal speaks no graphics protocol).
        await wait_for(pilot, lambda: panel.query("#dataset-image") or "could not draw" in screen_text(app), 120,
                       "the preview image")
        image = panel.query_one("#dataset-image")
        assert type(image).__module__.startswith("textual_image.")
        assert Path(panel.drawn["png"]).stat().st_size > 0 and panel.drawn["images"] == 8
        panel.query_one("#dataset-body").scroll_end(animate=False)
        await pilot.pause()
        assert image.region.height > 0 and image.region.right <= 80  # on screen, inside the 80 columns
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is plan


def test_textual_image_is_not_imported_at_start_up():
    from conftest import modules_after

    loaded = modules_after("import tui.app, tui.screens.plan, tui.screens.dataset")
    assert not {m for m in loaded if m.split(".")[0] in ("textual_image", "PIL")}
