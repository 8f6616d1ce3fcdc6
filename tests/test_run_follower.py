"""The one run follower (launcher.monitor.run_follower): every reader of a run judges it alike.

The run: its plan warms the lr up for 20 iterations (not mmdet's default 500) and its loss then
climbs to several times its minimum well before iteration 500, a diverging run for anyone who
takes the plan's warmup. `jobs --json` (a real CLI process), `watch --json` (another), the TUI's
Jobs screen and its Monitor (Pilot) must each flag the same divergence, at the same step, with the
same best mAP. Before the follower, the job lists' followers (summary.Followers: the Jobs screen)
took the default warmup of 500 and saw nothing, and `jobs` left a diverged run's alert out of its row.

The run dir is written in the formats the code reads: plan.json as launch writes it
(run_files.write_plan of Plan.to_dict's warmup_iters), scalars.json as MMEngine's LocalVisBackend
writes it (tests/data/mmlog.py).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).with_name("data")))

from mmlog import Run, train_record, train_text_line, val_record  # noqa: E402
from tui_support import make_app, open_monitor, screen_text, settle, sync  # noqa: E402

from launcher import paths, run_files  # noqa: E402
from launcher.jobs import registry  # noqa: E402
from launcher.jobs.registry import JobRecord  # noqa: E402
from launcher.monitor.run_follower import RunFollower  # noqa: E402

JOB = "20261201-000000-warm"
ITERS = 400  # one epoch; every line before the default warmup's end (500)
WARMUP = 20


def loss_at(step: int) -> float:
    """Falls to 0.4 by iteration 100, then climbs steadily: 3.4 by iteration 400."""
    return round(1.0 - 0.006 * step if step <= 100 else 0.4 + 0.01 * (step - 100), 4)


def warm_job(warmup_iters: int | None = WARMUP) -> JobRecord:
    """A finished job whose run diverged after a short warmup (None: a plan without one)."""
    run_dir = paths.runs_dir() / JOB
    run = Run(run_dir)
    records = [train_record(step, loss=loss_at(step), lr=0.02 * min(1.0, step / WARMUP)) for step in range(10, ITERS + 1, 10)]
    run.records(*records, val_record(1, 0.25))
    run.log(*(train_text_line(r, r["iter"], ITERS, max_epochs=1) for r in records))
    (run_dir / "faster-rcnn_r50_fpn_1x_coco.py").write_text(
        "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)\n")
    plan = {"preset": "r50-fpn-1x", "lr": 0.02, "total_batch": 16, "world_size": 8, "epochs": 1}
    if warmup_iters is not None:
        plan["warmup_iters"] = warmup_iters
    run_files.write_plan(run_dir, plan)
    (run_dir / run_files.EXIT_STATUS).write_text("0\n")
    record = JobRecord(id=JOB, name="warm", preset="r50-fpn-1x", run_dir=str(run_dir), gpu_ids=[0], cpu=False,
                       nproc_per_node=1, nodes=1, pid=1, pgid=1, create_time=1.0, started_at=time.time(),
                       port=29500, command=["true"], python=sys.executable, max_epochs=1, reference_ap=37.4)
    registry.save(record)
    return record


def divergence(alerts: list[dict]) -> list[tuple]:
    return [(a["kind"], a["step"], a["message"]) for a in alerts if a["kind"] == "divergence"]


def jobs_row(cli) -> dict:
    out = cli("jobs", "--json")
    assert out.returncode == 0, out.stderr
    return next(row for row in json.loads(out.stdout)["jobs"] if row["id"] == JOB)


def watch_once(cli) -> dict:
    out = cli("watch", JOB, "--once", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@sync
async def test_jobs_watch_and_the_monitor_judge_a_run_with_its_planned_warmup_alike(cli, fake_gpus):
    fake_gpus("eight")
    record = warm_job()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        # First, so that the Jobs screen reads the run itself (its followers: summary.Followers),
        # not the row `jobs` would have kept (summary_index).
        await pilot.press("j")
        await settle(app, pilot)
        listed = app.screen.jobs[JOB][1]
        await open_monitor(pilot, record)
        monitored = app.screen.snapshot
        assert "Loss diverging" in screen_text(app)
    watched = watch_once(cli)
    flagged = divergence(watched["alerts"])
    assert flagged and flagged[0][1] > WARMUP  # judged from the plan's warmup on, long before 500
    row = jobs_row(cli)
    assert divergence(row["alerts"]) == divergence(listed["alerts"]) == divergence(monitored["alerts"]) == flagged
    assert row["best_map"] == listed["best_map"] == monitored["best"]["bbox_mAP"] == watched["best"]["bbox_mAP"] == 0.25


def test_without_a_planned_warmup_every_reader_takes_mmdets_default(cli):
    # The same climb, all of it inside the default warmup of 500: nobody flags it.
    warm_job(warmup_iters=None)
    assert not divergence(watch_once(cli)["alerts"])
    assert not divergence(jobs_row(cli)["alerts"])
    follower = RunFollower.for_job(registry.load(JOB))
    assert follower.metrics.warmup_iters == 500
    assert not divergence(follower.read_once("succeeded")["alerts"])


def test_the_stall_grace_a_launch_sets_is_the_one_every_reader_judges_with(tmp_path):
    """launch --stall-grace S goes into plan.json (notify.plan_entry, beside --on-stall) and every
    follower of the run (the sentinel, watch, jobs, the Monitor) judges a stall with it; a kept
    history folded with another grace is not restored for it."""
    from launcher.monitor import STALL_GRACE_S
    from launcher.monitor.run_follower import planned_stall_grace_s
    from launcher.planning.request import PlanRequest
    from launcher.sentinel import notify

    assert notify.plan_entry(PlanRequest(preset="demo-cpu", stall_grace_s=7.5)) == {"stall_grace_s": 7.5}
    assert notify.plan_entry(PlanRequest(preset="demo-cpu")) == {}  # the default is not written
    run_dir = tmp_path / "run"
    Run(run_dir).records(*(train_record(step, loss=1.0, lr=0.02) for step in range(10, 60, 10)))
    run_files.write_plan(run_dir, {"preset": "demo-cpu", "stall_grace_s": 7.5})
    graced = RunFollower(run_dir)
    assert graced.metrics.stall_grace_s == 7.5
    assert graced.catch_up() and graced.keep()
    run_files.write_plan(run_dir, {"preset": "demo-cpu"})
    plain = RunFollower(run_dir)
    assert plain.metrics.stall_grace_s == STALL_GRACE_S == planned_stall_grace_s({"stall_grace_s": "soon"})
    assert not plain.restore()  # the history kept with 7.5 s is not this reader's
    run_files.write_plan(run_dir, {"preset": "demo-cpu", "stall_grace_s": 7.5})
    assert RunFollower(run_dir).restore()
