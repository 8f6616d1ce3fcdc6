"""The Plan screen's GPU choice reads without colour: under NO_COLOR (a monochrome SSH terminal) a
chosen GPU shows `▐X▌` and an unchosen one `▐ ▌`, and so does the CPU checkbox.

Driven with Textual's Pilot on the simulated 8-GPU inventory; the screen is read as plain text."""

from __future__ import annotations

from recorded_inspection import use_recorded_inspection
from tui_support import make_app, screen_text, sync, wait_for
from tui.screens.plan import PlanScreen


def _gpu_lines(text: str) -> dict[int, str]:
    """GPU index -> its line, for the rows of the Devices box ('▐X▌ 3 A100-SXM4-80GB free ...')."""
    rows = {}
    for line in text.splitlines():
        for mark in ("▐X▌ ", "▐ ▌ "):
            if mark in line:
                rest = line.split(mark, 1)[1].split()
                if rest and rest[0].isdigit() and "A100" in line:
                    rows[int(rest[0])] = mark.strip()
    return rows


@sync
async def test_chosen_and_unchosen_gpus_differ_in_text_under_no_color(fake_gpus, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    use_recorded_inspection(monkeypatch)
    fake_gpus("eight")
    app = make_app()
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.pause()
        app.open_plan("r50-fpn-1x")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen.cpu is not None,
                       what="the plan screen")
        await wait_for(pilot, lambda: len(_gpu_lines(screen_text(app))) == 8, what="eight GPU rows")
        assert set(_gpu_lines(screen_text(app)).values()) == {"▐X▌"}  # all free, all chosen
        await pilot.press("space", "down", "down", "space")  # untick GPUs 0 and 2
        await wait_for(pilot, lambda: app.screen.selected_gpus() == [1, 3, 4, 5, 6, 7], what="the untick")
        await pilot.pause()
        rows = _gpu_lines(screen_text(app))
        assert rows[0] == rows[2] == "▐ ▌" and rows[1] == rows[3] == "▐X▌", screen_text(app)
        text = screen_text(app)
        assert "▐ ▌ CPU (gloo workers)" in text, text  # the unticked CPU box, too
