"""What a new user met (issue 24): a stop they asked for reported as the job's error for good
(item 2), reference numbers that disagreed between views (item 3), and a Compare that called a
running job's AP final, compared every job unasked and named runs by id only (items 9 and 10).

Real jobs (mmdet on CPU under torchrun, stopped and resumed for real), real CLI processes,
and the Textual Pilot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import run_cli
from launcher.jobs import registry
from tui_support import T0, add_job, make_app, screen_text, sync, wait_for as wait_on_screen
from tui.screens.monitor import MonitorScreen
from training_helpers import (explain, job_status, launch, needs_stack, tiny_launch_args,
                              wait_done, wait_for)


def _watch_json(job_id: str) -> dict:
    result = run_cli("watch", job_id, "--once", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _jobs_row(job_id: str) -> dict:
    result = run_cli("jobs", "--json")
    assert result.returncode == 0, result.stderr
    return next(j for j in json.loads(result.stdout)["jobs"] if j["id"] == job_id)


# -- item 2: a stop you asked for is history ------------------------------------------------

@needs_stack
@pytest.mark.training
@sync
async def test_a_stop_you_asked_for_is_history_not_the_jobs_error(tiny_data):
    job = launch(*tiny_launch_args(tiny_data, epochs=3))
    job_id, run_dir = job["id"], Path(job["run_dir"])
    wait_for(lambda: (run_dir / "last_checkpoint").exists(), 300, "the first checkpoint")
    result = run_cli("stop", job_id, "--grace", "20")
    assert result.returncode == 0, result.stderr
    assert job_status(job_id) == "stopped"
    # What made it look failed is there: torchrun's own report of the signal the stop sent.
    assert "SignalException" in (run_dir / "stderr.log").read_text(), explain(run_dir)
    stopped = _watch_json(job_id)
    assert stopped["errors"]["first_error_line"] is None and stopped["errors"]["traceback"] is None
    assert re.fullmatch(r"stopped by you at epoch \d", stopped["history_line"]), stopped["history_line"]

    result = run_cli("resume", job_id)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: len(list(run_dir.glob("*/vis_data/scalars.json"))) >= 2, 300, "the resumed attempt's log")
    resumed = _watch_json(job_id)  # while it runs (or just ended): no error from the stop
    assert resumed["errors"]["first_error_line"] is None, resumed["errors"]
    assert wait_done(job_id, 400) == "succeeded", explain(run_dir)

    # The CLI: no "first error", no traceback panel; the stop and the resume as history.
    result = run_cli("watch", job_id, "--once")
    assert result.returncode == 0, result.stderr
    for word in ("first error", "SignalException", "traceback"):
        assert word not in result.stdout, result.stdout
    assert re.search(r"history: stopped by you at epoch \d, resumed", result.stdout), result.stdout
    done = _watch_json(job_id)
    assert done["errors"]["error_count"] == 0 and done["history"][-1]["event"] == "resumed"
    assert [h["event"] for h in done["history"]] == ["stopped", "resumed"]
    # A plain stop (not --checkpoint) redoes the iterations since its last checkpoint: jobs says how many.
    assert re.fullmatch(r"stopped by you at epoch \d, resumed; iterations redone per restart: \d+",
                        _jobs_row(job_id)["history"])
    # The marks are in the job's own logs too, where `logs` shows them.
    assert "frcnn-tui: stopped by you at epoch" in run_cli("logs", job_id).stdout

    # The Monitor: no ⚠ on the Log tab, no errors box; the history in the summary.
    app = make_app()
    async with app.run_test(size=(200, 32)) as pilot:  # wide: the summary line unwrapped
        app.open_monitor(registry.find(job_id))
        await wait_on_screen(pilot, lambda: "stopped by you at epoch" in screen_text(app), 60, "the history")
        text = screen_text(app)
        assert "4 Log ⚠" not in text and "first error" not in text, text
        assert app.screen.query_one("#errors").display is False


def test_a_monitor_open_across_the_stop_and_the_resume_drops_the_old_attempts_errors(tmp_path):
    """The live path (one tailer polled as the files grow, as the Monitor does) and a reader that
    comes later (everything at once) end with the same errors and history."""
    from launcher.monitor import attempt_notes
    from launcher.monitor.metrics import JobMetrics
    from launcher.monitor.workdir import WorkDirTailer
    from tui_support import write_run

    run_dir = write_run(tmp_path / "run", epochs=2, traceback=True)  # the first attempt raised
    (run_dir / "last_checkpoint").write_text(str(run_dir / "epoch_2.pth"))
    tailer, live = WorkDirTailer(run_dir), JobMetrics()
    live.update(tailer.poll())
    assert live.errors()["first_error_line"].startswith("RuntimeError: CUDA out of memory")
    attempt_notes.note_stop(run_dir)
    with open(run_dir / "stderr.log", "a") as fh:  # what torchrun's agent prints when the stop's SIGTERM reaches it
        fh.write("Traceback (most recent call last):\n  File \"torchrun\", line 8, in <module>\n"
                 "torch.distributed.elastic.multiprocessing.api.SignalException: Process 42 got signal: 15\n")
    live.update(tailer.poll())
    assert "SignalException" not in str(live.errors())
    attempt_notes.note_resume(run_dir, attempt=2)
    live.update(tailer.poll())
    later = JobMetrics()
    later.update(WorkDirTailer(run_dir).poll())
    for metrics in (live, later):
        snap = metrics.snapshot()
        assert snap["errors"]["error_count"] == 0 and snap["errors"]["traceback"] is None, snap["errors"]
        assert snap["history_line"] == "stopped by you at epoch 2, resumed"
        assert [h["epoch"] for h in snap["history"]] == [2, 2]


# -- item 3: one reference per view, at the same epoch -------------------------------------

JOB, OTHER = "20261128-231000-aaaa", "20261128-231000-bbbb"


@sync
async def test_monitor_without_a_reference_run_shows_the_presets_ap_as_a_target(fake_gpus):
    fake_gpus("eight")
    add_job(JOB, status="running", epochs=2)  # r50-fpn-1x: 37.4 is its AP after 12 epochs
    app = make_app()
    async with app.run_test(size=(110, 32)) as pilot:
        app.open_monitor(registry.find(JOB))
        await wait_on_screen(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot,
                             what="metrics")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "best mAP 26.8 (ep 2) · target 37.4 (ep 12)" in text, text
        assert "vs ref" not in text and "-10.6" not in text
        await pilot.press("3")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "target 37.4 at epoch 12" in text and "-10.6" not in text and "reference 37.4" not in text


def test_watch_compares_with_one_reference_at_the_same_epoch(fake_gpus):
    add_job(JOB, status="succeeded", epochs=2)
    out = run_cli("watch", JOB, "--once").stdout
    assert "target 37.4 at epoch 12" in out and "vs reference 37.4" not in out and "-10.6" not in out, out
    add_job(OTHER, status="succeeded", epochs=3)
    result = run_cli("reference", "add", "five-ref", OTHER, "--preset", "r50-fpn-1x")
    assert result.returncode == 0, result.stderr
    out = run_cli("watch", JOB, "--once").stdout
    assert "epoch 2: 0.268 vs reference five-ref 0.268 (+0.000" in out, out
    assert "37.4" not in out  # the reference run is this view's one reference
    snap = _watch_json(JOB)
    assert snap["reference"]["name"] == "five-ref" and snap["target"] is None


def test_watch_json_holds_no_epoch_2_gap_to_a_final_ap(fake_gpus):
    add_job(JOB, status="running", epochs=2)  # epoch 2 of 12; the preset's 37.4 is epoch 12's
    snap = _watch_json(JOB)
    assert snap["best"]["gap_to_reference"] is None and snap["target"] == {"ap": 37.4, "epoch": 12, "delta": None}
    add_job(OTHER, status="succeeded", epochs=12)
    assert _watch_json(OTHER)["best"]["gap_to_reference"] == 0.0 and _watch_json(OTHER)["target"]["delta"] == 0.0


# -- items 9 and 10, the Compare part: latest vs final, what is compared, one order, names -------

def _named(job_id: str, name: str, **kw) -> None:
    import dataclasses

    registry.save(dataclasses.replace(add_job(job_id, **kw), name=name))


def _runs_and_a_reference_run() -> None:
    _named(JOB, "four-gpus", status="succeeded", epochs=12, started_at=T0 - 600)
    _named(OTHER, "cpu-try", status="running", epochs=2, cpu=True)
    _named("20261128-231000-cccc", "refsrc", status="succeeded", epochs=12, gpu_ids=(0, 1), started_at=T0 - 7200)
    result = run_cli("reference", "add", "five-ref", "20261128-231000-cccc", "--preset", "r50-fpn-1x")
    assert result.returncode == 0, result.stderr


@sync
async def test_compare_screen_at_80x24_says_latest_names_runs_and_uses_their_reference(fake_gpus):
    from tui.screens.compare import CompareScreen

    fake_gpus("eight")
    _runs_and_a_reference_run()
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("j")
        await wait_on_screen(pilot, lambda: getattr(app.screen, "loaded", False), what="the jobs")
        order = [app.screen.jobs[j][0].name for j in app.screen.jobs]
        await pilot.press("space", "down", "space")  # the two newest rows: the running try and four-gpus
        await pilot.press("c")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, CompareScreen) and
                             "Reading the runs" not in screen_text(app), what="the comparison")
        text = screen_text(app)
        assert "Compare 2 marked run(s)" in text
        # Names over ids, one order (the Jobs screen's), every cell whole at 80 columns.
        header = next(line for line in text.splitlines() if "cpu-try" in line)
        shown = [name for name in order if name in ("four-gpus", "cpu-try")]
        assert [n for n in sorted(shown, key=header.index)] == shown
        for needle in (OTHER, JOB, "cpu×2", "gpu 0,1,2,3", "running", "succeeded"):
            assert needle in text, (needle, text)
        # The running job's AP is its latest, not final; the finished one's is final.
        assert "26.8 latest, ep 2/12" in text and "37.4 final, ep 12/12" in text
        # The same reference the Monitor uses, at the run's own epoch; the preset's 37.4 is not one.
        assert "five-ref 26.8 (+0.0)" in text and "five-ref 37.4 (+0.0)" in text
        assert "target" not in text
        await pilot.press("escape")
        await pilot.press("up", "space", "down", "space")  # unmark both: `c` then compares every finished run
        await pilot.press("c")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, CompareScreen), what="the comparison")
        assert "Compare all 2 finished run(s): none marked" in screen_text(app)


def test_compare_cli_names_runs_and_says_latest(fake_gpus):
    _runs_and_a_reference_run()
    result = run_cli("compare", JOB, OTHER, env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "four-gpus" in out and "cpu-try" in out and out.index("four-gpus") < out.index("cpu-try")
    assert "26.8 latest, ep 2/12" in out and "37.4 final, ep 12/12" in out
    assert "five-ref 26.8 (+0.0)" in out and "37.4 (+0.0)" in out
    runs = json.loads(run_cli("compare", JOB, OTHER, "--json").stdout)["runs"]
    assert [r["ap_label"] for r in runs] == ["final, ep 12/12", "latest, ep 2/12"]
    assert [r["against"]["name"] for r in runs] == ["five-ref", "five-ref"]
