"""The Jobs screen with thousands of jobs (issue 28): newest first, only a window of rows built
(tui.widgets.tables.WindowTable), the window following the cursor to the oldest job, and the
filter line still searching all of them. A generated registry of small finished jobs (each run
dir a hard-linked copy of one recorded run: logs and scalars, no checkpoint)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

from tui_support import T0, add_job, make_app, screen_text, sync, wait_for

from launcher import paths

N = 2500


def many_finished_jobs(n: int) -> list[str]:
    """N finished jobs, oldest first (one a minute); the oldest is named 'first-ever-run'."""
    template = add_job("20261101-000000-tmpl", status="succeeded", epochs=1, started_at=T0 - 10 * 86400)
    entry = template.to_dict()
    ids = []
    for i in range(n):
        job_id = f"20261101-{i // 100:06d}-{i % 100:04d}"
        run_dir = paths.runs_dir() / job_id
        shutil.copytree(template.run_dir, run_dir, copy_function=os.link)
        fields = dict(entry, id=job_id, name="first-ever-run" if i == 0 else f"run-{i}", run_dir=str(run_dir),
                      started_at=T0 - 86400 + 60 * i)
        # registry.save's format, without its fsync per file (thousands of fsyncs measure the disk)
        (paths.jobs_dir() / f"{job_id}.json").write_text(json.dumps(fields, indent=2))
        ids.append(job_id)
    (paths.jobs_dir() / f"{template.id}.json").unlink()  # the template itself is not listed
    return ids


@sync
async def test_thousands_of_jobs_newest_first_to_the_oldest_and_the_filter_finds_an_old_one(fake_gpus):
    from launcher.jobs.summary import summarize_all
    from tui.screens.jobs import WINDOW, JobsScreen

    fake_gpus("eight")
    t0 = time.monotonic()
    ids = many_finished_jobs(N)
    newest, oldest = ids[-1], ids[0]
    t1 = time.monotonic()
    summarize_all()  # every row kept, as an earlier `jobs` or TUI leaves them
    print(f"{N} jobs made in {t1 - t0:.1f} s, kept in {time.monotonic() - t1:.1f} s", file=sys.stderr)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        t0 = time.monotonic()
        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.loaded, timeout=60)
        took = time.monotonic() - t0
        screen = app.screen
        table = screen.query_one("#jobs")
        assert table.get_row_at(0)[1] == newest and screen.highlighted_id == newest
        assert table.row_count == WINDOW  # a window of rows built, not thousands
        assert f"rows 1–{WINDOW}" in screen_text(app) and f"{N} job(s), 0 running" in screen_text(app)
        print(f"key to rows with {N} jobs: {took:.2f} s", file=sys.stderr)

        # Page by page past the window's end: the window follows, every job in order.
        for _ in range(15):
            await pilot.press("pagedown")
        await pilot.pause()
        at = ids.index(screen.highlighted_id)
        assert N - 1 - at > WINDOW  # past the first window
        rows = [table.get_row_at(i)[1] for i in range(table.row_count)]
        assert rows == ids[::-1][screen._start:screen._start + WINDOW]  # consecutive, newest first

        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: screen.highlighted_id == oldest, what="the oldest job")
        assert table.get_row_at(table.row_count - 1)[1] == oldest
        assert "first-ever-run" in screen_text(app)
        await pilot.press("up")
        await pilot.pause()
        assert screen.highlighted_id == ids[1]
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: screen.highlighted_id == newest, what="the newest job again")

        await pilot.press("slash", *"first-ever")
        await wait_for(pilot, lambda: table.row_count == 1, what="the filtered row")
        assert table.get_row_at(0)[1] == oldest and f"1 of {N} job(s)" in screen_text(app)
        await pilot.press("escape")  # the whole list again, the job found still highlighted
        await wait_for(pilot, lambda: table.row_count == WINDOW, what="the window again")
        assert screen.highlighted_id == oldest and table.get_row_at(table.row_count - 1)[1] == oldest
    # The fixture's teardown looks for each entry's processes (~10 ms a job): these have none.
    shutil.rmtree(paths.jobs_dir())
