"""The lr the Plan screen shows is the lr that launch would run (one code path, launcher.planning.preview).

Driven with Textual's Pilot on the simulated 8-GPU inventory (the NVML edge); make_plan runs for
real but for its subprocess (the recorded inspection), so its lr is the one written into the
config and plan.json.
"""

from __future__ import annotations

import re

from textual.widgets import Input, SelectionList, Static

from launcher.planning.plan import make_plan
from recorded_inspection import use_recorded_inspection
from tui_support import make_app, sync, wait_for
from tui.screens.plan import PlanScreen


def lr_on_screen(screen: PlanScreen) -> float:
    """The number the lr view shows (its first line: 'lr  0.01  linear rule')."""
    text = str(screen.query_one("#lr-view", Static).content)
    match = re.match(r"lr\s+(\S+)\s", text)
    assert match, f"no lr on screen: {text!r}"
    return float(match.group(1))


def plan_launch_would_run(app, screen: PlanScreen):
    # The request ctrl+l hands to launch, planned by the function launch calls.
    return make_plan(screen.build_request(), catalog=app.catalog)


@sync
async def test_the_lr_on_screen_is_the_lr_that_launches(fake_gpus, monkeypatch):
    use_recorded_inspection(monkeypatch)
    fake_gpus("eight")
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        app.open_plan("r50-fpn-1x")  # base lr 0.02 for 16 images, 2 images per GPU
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen.cpu is not None,
                       what="the plan screen")
        screen = app.screen
        gpus = screen.query_one("#gpu-select", SelectionList)

        async def check(gpu_ids: list[int], cpu: bool, nproc: int, lr: float) -> None:
            await pilot.pause()
            plan = plan_launch_would_run(app, screen)
            assert (plan.gpu_ids, plan.cpu, plan.nproc_per_node) == (gpu_ids, cpu, nproc)
            assert lr_on_screen(screen) == plan.proposal.lr == plan.to_dict()["lr"] == lr
            # ... and the lr the resolved config (what train_entry runs) carries.
            assert plan.inspection["config"]["summary"]["lr"] == lr

        # All 8 GPUs (all are free, so all are ticked): 8 × 2 = 16 images, the base batch.
        assert sorted(gpus.selected) == list(range(8))
        await check(list(range(8)), False, 8, 0.02)

        # GPUs 0 and 2, ticked off with the keyboard: 2 × 2 = 4 images.
        gpus.focus()
        await pilot.press("down", "space", "down", "down", "space", *["down", "space"] * 4)
        assert sorted(gpus.selected) == [0, 2]
        await check([0, 2], False, 2, 0.005)

        # CPU with 3 gloo workers: 3 × 2 = 6 images.
        await pilot.click("#use-cpu")
        nproc = screen.query_one("#nproc", Input)
        nproc.focus()
        await pilot.press("end", "backspace", "3")
        assert screen.cpu and nproc.value == "3"
        await check([], True, 3, 0.0075)
        await app.workers.wait_for_complete()
