"""Housekeeping of a long job list: `rm JOB… [--keep-files]` and the filters of `jobs`
(--running, --failed, --preset, --since, --limit), through the real CLI on a real registry."""

from __future__ import annotations

import json
import time

import pytest

from launcher import paths
from launcher.jobs import registry
from tui_support import add_job, make_app, sync, wait_for

NOW = time.time()


def listed(cli, *args: str) -> list[str]:
    out = cli("jobs", "--json", *args)
    assert out.returncode == 0, out.stderr
    return [row["id"] for row in json.loads(out.stdout)["jobs"]]


def test_rm_removes_a_finished_job_and_its_run_dir(cli):
    done = add_job("20261201-000000-done", status="succeeded")
    failed = add_job("20261201-000001-fail", status="failed")
    out = cli("rm", done.id, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["removed"] == [
        {"id": done.id, "name": done.name, "run_dir": done.run_dir, "files": "removed"}]
    assert not done.run_path.exists() and failed.run_path.exists()
    assert listed(cli) == [failed.id]
    out = cli("rm", failed.id, "--keep-files")  # by name works too; here by id
    assert out.returncode == 0 and "kept (--keep-files)" in out.stdout
    assert failed.run_path.is_dir() and listed(cli) == []


def test_rm_refuses_a_running_job_and_a_typo_removes_nothing(cli):
    live = add_job("20261201-000000-live", status="running")
    done = add_job("20261201-000001-done", status="succeeded")
    out = cli("rm", done.id, "no-such-job")
    assert out.returncode == 2 and out.stderr.strip() == "frcnn-tui: error: no job 'no-such-job' (frcnn-tui jobs lists them)"
    assert listed(cli) == [live.id, done.id]
    out = cli("rm", live.id, done.id)
    assert out.returncode == 1
    assert out.stderr.strip() == f"frcnn-tui: error: job {live.id} is running: stop it first (frcnn-tui stop {live.id})"
    assert listed(cli) == [live.id] and live.run_path.is_dir() and not done.run_path.exists()


def test_rm_keeps_a_users_work_dir(cli, tmp_path):
    job = add_job("20261201-000000-mine", status="stopped")
    mine = tmp_path / "my-work-dir"
    job.run_path.rename(mine)
    job.run_dir = str(mine)
    registry.save(job)
    out = cli("rm", job.id)
    assert out.returncode == 0 and "kept (your --work-dir)" in out.stdout
    assert (mine / registry.EXIT_FILE).is_file() and listed(cli) == []


def test_jobs_filters(cli):
    old = add_job("20261101-000000-oldd", status="succeeded", preset="r50-fpn-1x", started_at=NOW - 30 * 86400)
    fail = add_job("20261201-000000-fail", status="failed", preset="demo-cpu", started_at=NOW - 2 * 86400)
    live = add_job("20261201-000001-live", status="running", preset="demo-cpu", started_at=NOW - 3600)
    done = add_job("20261201-000002-done", status="succeeded", preset="r50-fpn-1x", started_at=NOW - 60)
    assert listed(cli) == [old.id, fail.id, live.id, done.id]
    assert listed(cli, "--running") == [live.id]
    assert listed(cli, "--failed") == [fail.id]
    assert listed(cli, "--running", "--failed") == [fail.id, live.id]
    assert listed(cli, "--preset", "demo-cpu") == [fail.id, live.id]
    assert listed(cli, "--since", "7d") == [fail.id, live.id, done.id]
    assert listed(cli, "--since", "2h") == [live.id, done.id]
    assert listed(cli, "--limit", "2") == [live.id, done.id]  # the newest two, oldest first like the rest
    assert listed(cli, "--preset", "r50-fpn-1x", "--limit", "1") == [done.id]
    assert listed(cli, "--failed", "--limit", "1", "--preset", "r50-fpn-1x") == []


@pytest.mark.parametrize("args", [["--since", "7x"], ["--since", "-3d"], ["--since", "d"], ["--since", "nand"],
                                  ["--limit", "0"], ["--limit", "many"]])
def test_jobs_filters_refuse_bad_values_in_one_line(cli, args):
    out = cli("jobs", *args)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("frcnn-tui: error: ")


async def _jobs_screen(app, pilot) -> None:
    from tui.screens.jobs import JobsScreen

    await pilot.press("j")
    await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.loaded)


@sync
async def test_the_jobs_screen_filters_by_name_preset_or_status(fake_gpus):
    from textual.widgets import DataTable

    fake_gpus("eight")
    add_job("20261201-000000-aaaa", status="succeeded", preset="r50-fpn-1x")
    add_job("20261201-000001-bbbb", status="failed", preset="demo-cpu")
    add_job("20261201-000002-cccc", status="succeeded", preset="demo-cpu")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await _jobs_screen(app, pilot)
        table = app.screen.query_one("#jobs", DataTable)
        rows = lambda: [table.get_row_at(i)[1] for i in range(table.row_count)]  # noqa: E731
        assert rows() == ["20261201-000002-cccc", "20261201-000001-bbbb", "20261201-000000-aaaa"]
        await pilot.press("slash", *"demo")
        await pilot.pause()
        assert rows() == ["20261201-000002-cccc", "20261201-000001-bbbb"]
        assert app.screen.query_one("#jobs-box").border_subtitle == "2 of 3 job(s), 0 running"
        await pilot.press("space", *"succ")  # every word must match
        await pilot.pause()
        assert rows() == ["20261201-000002-cccc"]
        await pilot.press(*"x")
        await pilot.pause()
        assert rows() == [] and "No job matches demo succx" in str(app.screen.query_one("#job-detail").render())
        await pilot.press("escape")
        await pilot.pause()
        assert len(rows()) == 3 and not app.screen.query_one("#jobs-filter").display


@sync
async def test_the_jobs_screen_asks_before_removing_and_never_removes_a_running_job(fake_gpus):
    from tui.screens.dialogs import ConfirmDialog

    fake_gpus("eight")
    done = add_job("20261201-000000-done", status="succeeded")
    live = add_job("20261201-000001-live", status="running")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await _jobs_screen(app, pilot)
        assert app.screen.highlighted_id == live.id  # newest first
        await pilot.press("delete")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)  # not offered for a running job
        await pilot.press("down", "delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")  # declined: nothing happens
        await pilot.pause()
        assert done.run_path.is_dir() and (paths.jobs_dir() / f"{done.id}.json").is_file()
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: done.id not in app.screen.jobs, what="the job gone from the list")
        assert not done.run_path.exists() and live.run_path.is_dir()


def test_jobs_says_when_its_filters_leave_no_job(cli):
    add_job("20261201-000000-done", status="succeeded")
    out = cli("jobs", "--failed")
    assert out.returncode == 0 and out.stdout.strip() == "No job matches these filters (frcnn-tui jobs lists them all)."
    assert "20261201-000000-done" in cli("jobs").stdout
