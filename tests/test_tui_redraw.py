"""Draw only what changed: a screen whose data did not change sends nothing to the terminal, a
change sends about the cells it touches (issue 28: each repaint is bytes over the user's SSH link).

The bytes are those Textual's compositor hands the terminal (App._display renders each update
to the escape sequences it writes), counted while real screens refresh over a real registry."""

from __future__ import annotations

from pathlib import Path

from tui_support import add_job, make_app, sync, wait_for
from tui.screens.jobs import JobsScreen

SIZE = (100, 30)


def count_bytes(app) -> list[int]:
    """A one-item list that grows by the bytes of every update the app draws from now on."""
    sent = [0]
    display = app._display

    def counted(screen, renderable):
        from textual._compositor import CompositorUpdate

        if isinstance(renderable, CompositorUpdate):
            sent[0] += len(renderable.render_segments(app.console).encode())
        return display(screen, renderable)

    app._display = counted
    return sent


async def refreshed(app, pilot, times: int = 3) -> None:
    for _ in range(times):
        app.screen.action_refresh()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.05)


@sync
async def test_the_jobs_screen_sends_nothing_when_nothing_changed(fake_gpus):
    fake_gpus("eight")
    add_job("20261128-231000-aaaa", status="succeeded", epochs=12)
    add_job("20261129-081500-bbbb", status="failed", epochs=2, traceback=True)
    add_job("20261130-120000-cccc", status="running", epochs=1)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.loaded)
        await refreshed(app, pilot, 1)
        sent = count_bytes(app)
        await refreshed(app, pilot)
        assert sent[0] == 0


@sync
async def test_a_new_value_sends_about_its_cell(fake_gpus):
    fake_gpus("eight")
    for i in range(8):
        add_job(f"20261128-23100{i}-aaaa", status="succeeded", epochs=12)
    live = add_job("20261130-120000-cccc", status="running", epochs=1)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        sent = count_bytes(app)
        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.loaded)
        await refreshed(app, pilot, 1)
        whole = sent[0]
        sent[0] = 0
        table = app.screen.query_one("#jobs")
        assert table.get_cell(live.id, "progress") == "epoch 1/12"
        stamp = next(p for p in Path(live.run_dir).iterdir() if p.is_dir() and p.name[:1].isdigit())
        with open(stamp / "vis_data" / "scalars.json", "a") as fh:  # the next epoch's first line
            fh.write('{"lr": 0.02, "loss": 1.0, "epoch": 2, "iter": 101, "step": 201}\n')
        await refreshed(app, pilot, 1)
        assert table.get_cell(live.id, "progress") == "epoch 2/12"
        # About the one row it is in (~250 bytes here), not the table again (DataTable's own
        # update_cell repaints every visible row: ~5 KB here).
        assert 0 < sent[0] < whole / 20, (sent[0], whole)


@sync
async def test_the_monitor_sends_about_the_changed_cells_of_a_new_log_line(fake_gpus):
    from tui_support import open_monitor

    fake_gpus("eight")
    live = add_job("20261130-120000-cccc", status="running", epochs=1)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, live)
        await pilot.press("4")  # the Log tab: the summary and ETA above it, no chart redraw in the count
        await pilot.pause(0.5)
        summary = app.screen.query_one("#job-summary")
        sent = count_bytes(app)
        await pilot.pause(0.5)
        assert sent[0] == 0  # nothing logged, nothing sent
        stamp = next(p for p in Path(live.run_dir).iterdir() if p.is_dir() and p.name[:1].isdigit())
        with open(stamp / "vis_data" / "scalars.json", "a") as fh:  # the next logged line
            fh.write('{"lr": 0.01, "loss": 0.9876, "epoch": 2, "iter": 10, "step": 110}\n')
        await wait_for(pilot, lambda: "loss 0.9876" in summary.content.plain, what="the new line")
        await pilot.pause(0.3)
        # About the cells that changed (~70 bytes here), not the summary's and ETA's lines again
        # with their colours (~450 bytes).
        assert 0 < sent[0] < 150, sent[0]


@sync
async def test_a_new_loss_point_repaints_the_cells_it_moves_not_the_chart_frame(fake_gpus):
    from tui_support import open_monitor

    fake_gpus("eight")
    live = add_job("20261130-120000-cccc", status="running", epochs=1)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        sent = count_bytes(app)
        await open_monitor(pilot, live)
        chart = app.screen.query_one("#loss-chart")
        await wait_for(pilot, lambda: chart._has_figure, what="the loss chart")
        await pilot.pause(0.3)
        sent[0] = 0
        chart.refresh()  # what the whole chart costs, drawn again
        await pilot.pause(0.3)
        whole = sent[0]
        sent[0] = 0
        stamp = next(p for p in Path(live.run_dir).iterdir() if p.is_dir() and p.name[:1].isdigit())
        with open(stamp / "vis_data" / "scalars.json", "a") as fh:  # the next logged line
            fh.write('{"lr": 0.01, "loss": 0.9876, "epoch": 2, "iter": 10, "step": 110}\n')
        summary = app.screen.query_one("#job-summary")
        await wait_for(pilot, lambda: "loss 0.9876" in summary.content.plain, what="the new line")
        app.screen._update_charts(now=True)  # the redraw the screen's timer would do later, if not done yet
        await pilot.pause(0.3)
        assert app.screen._charted["loss"] == app.screen._chart_input("loss")  # the new point is drawn
        # The cells the new point moved (the curve, a tick label) and the summary's changed cells
        # (~3.1 KB here), not the title, axes, legend and the rest again (~5.2 KB whole).
        assert 0 < sent[0] < 0.75 * whole, (sent[0], whole)


@sync
async def test_a_cheap_chart_still_waits_ten_seconds_between_redraws_while_the_job_logs(fake_gpus):
    from tui_support import open_monitor

    fake_gpus("eight")
    live = add_job("20261130-120000-cccc", status="running", epochs=1)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, live)
        chart = app.screen.query_one("#loss-chart")
        await wait_for(pilot, lambda: chart._has_figure, what="the loss chart")
        chart._cpu_last = chart._cpu_now = 0.001  # as a fast machine measures a redraw
        # Every redraw is ~3 KB over the link: a loss curve every 10 s, not every 2 s.
        assert app.screen._chart_period("loss") >= 10.0


@sync
async def test_a_summary_that_wraps_still_sends_only_its_changed_cells(fake_gpus):
    from tui_support import open_monitor

    fake_gpus("eight")
    live = add_job("20261130-120000-cccc", status="running", epochs=1)
    app = make_app()
    async with app.run_test(size=(60, 30)) as pilot:  # narrow: the summary's second line wraps
        await open_monitor(pilot, live)
        await pilot.press("4")
        await pilot.pause(0.5)
        summary = app.screen.query_one("#job-summary")
        assert summary.size.height == 3
        sent = count_bytes(app)
        stamp = next(p for p in Path(live.run_dir).iterdir() if p.is_dir() and p.name[:1].isdigit())
        with open(stamp / "vis_data" / "scalars.json", "a") as fh:
            fh.write('{"lr": 0.01, "loss": 0.9876, "epoch": 2, "iter": 10, "step": 110}\n')
        await wait_for(pilot, lambda: "loss 0.9876" in summary.content.plain, what="the new line")
        await pilot.pause(0.3)
        assert 0 < sent[0] < 150, sent[0]
