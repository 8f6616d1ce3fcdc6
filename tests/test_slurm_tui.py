"""The TUI with SLURM jobs, against the real one-node cluster (slurm_helpers): the Plan screen's
SLURM target (partitions from sinfo, the cluster's checks), and a SLURM job watched, stopped and
resumed from the Jobs and Monitor screens without typing a SLURM command."""

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import run_cli
from launcher.jobs import job_status, registry, status_words
from slurm_helpers import PARTITION, cancel_leftovers, slurm_cluster, squeue_ids  # noqa: F401
from tui_support import make_app, screen_text, sync, wait_for
from training_helpers import make_tiny_dataset, needs_stack
from tui.app import FrcnnApp
from tui.screens.dialogs import ConfirmDialog
from tui.screens.monitor import MonitorScreen
from tui.screens.plan import PlanScreen

SIZE = (120, 40)


def notes(app) -> str:
    return " | ".join(str(n.message) for n in app._notifications)


def test_the_slurm_target_follows_sbatch_on_path(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert FrcnnApp().slurm is False
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "sbatch").write_text("#!/bin/sh\nexit 1\n")
    (tools / "sbatch").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", str(tools))
    assert FrcnnApp().slurm is True


@needs_stack
@sync
async def test_plan_screen_targets_a_slurm_partition_with_the_clusters_checks(slurm_cluster, fake_gpus):
    fake_gpus("eight")
    app = make_app(slurm=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inventory is not None, what="the probe")
        await pilot.press("enter")  # r50-fpn-1x
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen), what="the plan screen")
        screen = app.screen
        select = screen.query_one("#target")
        await wait_for(pilot, lambda: len(select._options) >= 3, what="partitions from sinfo")
        assert [str(label) for label, _ in select._options] == ["this host", "SLURM: debug", "SLURM: short"]
        select.value = "debug"
        await wait_for(pilot, lambda: screen.plan is not None and any(c.id == "slurm-partition"
                                                                      for c in screen.plan.checks),
                       90, "the checklist with the cluster's items")
        checks = {c.id: c for c in screen.plan.checks}
        assert "port" not in checks  # SLURM's allocation picks the rendezvous, not this host
        assert checks["slurm-partition"].status == "pass"
        # The 8 GPUs picked here become 8 per node: more than the node's gpu:2 (sinfo GRES).
        assert checks["slurm-resources"].status == "fail" and "2 GPU(s) (sinfo GRES)" in checks["slurm-resources"].detail
        assert screen.slurm_spec.partition == "debug" and screen.slurm_spec.tasks_per_node == 8
        # GPUs/node (a login node has none to pick) and nodes: the lr counts nodes x tasks x images.
        screen.query_one("#slurm-gpus").value = "2"
        screen.query_one("#nodes").value = "2"
        await pilot.pause()
        assert "0.02 × (2×2×2)/16 = 0.01" in screen_text(app)
        assert (screen.slurm_spec.nodes, screen.slurm_spec.tasks_per_node, screen.slurm_spec.cpu) == (2, 2, False)


@needs_stack
@sync
async def test_the_plan_screen_asks_for_the_time_limit_account_and_qos_and_checks_the_time(slurm_cluster, fake_gpus):
    # On an 80x24 terminal: the limits row comes with a partition, and the checklist judges the
    # time against the partition's limit (short: 10 minutes) as it does for `launch --slurm --time`.
    fake_gpus("none")
    app = make_app(slurm=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.inventory is not None, what="the probe")
        await pilot.press("enter")  # demo-cpu
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen), what="the plan screen")
        screen = app.screen
        assert not screen.query_one("#slurm-limits").display and "account" not in screen_text(app)
        select = screen.query_one("#target")
        await wait_for(pilot, lambda: len(select._options) >= 3, what="partitions from sinfo")
        select.value = "short"
        await pilot.pause()
        assert screen.query_one("#slurm-limits").display
        text = screen_text(app)
        assert "time" in text and "account" in text and "qos" in text
        assert "run on SLURM: short" in text and "GPUs/node picked" in text  # all of it fits in 80 columns
        assert "0.002 × (1×2×2)/4 = 0.002" in text  # the limits row leaves the lr in view

        def time_check():
            checks = {c.id: c for c in (screen.plan.checks if screen.plan else [])}
            return checks.get("slurm-time")

        screen.query_one("#slurm-time").value = "20:00"
        await wait_for(pilot, lambda: time_check() is not None and "20:00" in time_check().detail, 90,
                       "the time judged")
        assert time_check().status == "fail" and "exceeds partition short's limit" in time_check().detail
        for widget_id, value in (("#slurm-time", "5:00"), ("#slurm-account", "vision"), ("#slurm-qos", "normal")):
            screen.query_one(widget_id).value = value
        await wait_for(pilot, lambda: time_check() is not None and "5:00" in time_check().detail, 90,
                       "the time judged again")
        assert time_check().status == "pass"
        spec = screen.slurm_spec
        assert (spec.partition, spec.time, spec.account, spec.qos) == ("short", "5:00", "vision", "normal")
        select.value = "here"
        await pilot.pause()
        assert not screen.query_one("#slurm-limits").display and screen.slurm_spec is None


@needs_stack
@sync
async def test_a_pending_slurm_job_is_watched_stopped_and_resumed_from_the_tui(slurm_cluster, fake_gpus, tmp_path,
                                                                             cancel_leftovers):
    fake_gpus("none")
    # 2 tasks x 2 CPUs on a 2-CPU node: SLURM accepts it and can never start it (PENDING, PartitionConfig).
    result = run_cli("launch", "--preset", "demo-cpu", "--slurm", "--partition", PARTITION, "--cpu", "--nproc", "2",
                     "--cpus-per-task", "2", "--data-root", str(tmp_path / "no-data"), "--force", "--json")
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    first_id = job["slurm_job_id"]
    app = make_app(slurm=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await wait_for(pilot, lambda: "pending (PartitionConfig)" in screen_text(app), 30, "the pending row")
        text = screen_text(app)
        assert job["id"] in text and f"SLURM job {first_id} · PENDING (PartitionConfig)" in text
        assert "slurm 1×cpu×2" in text
        await pilot.press("enter")  # the Monitor follows it like a local job
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen)
                       and f"SLURM job {first_id} PENDING (PartitionConfig)" in screen_text(app), 30,
                       "the monitor's SLURM line")
        await pilot.press("x")  # the Monitor's stop
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        assert f"scancel of SLURM job {first_id}" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: f"SLURM job {first_id} cancelled" in notes(app), 120, "the stop")
        assert first_id not in squeue_ids()
        assert job_status.status(registry.find(job["id"])) == status_words.STOPPED
        # Resume resubmits the job's own script with --resume. The checkpoint is a stand-in: the job
        # asks for more CPUs than the node has, so it waits in the queue and never reads it.
        Path(job["run_dir"], "last_checkpoint").write_text(os.path.join(job["run_dir"], "epoch_1.pth"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "stopped" in screen_text(app), 30, "the stopped row")
        await pilot.press("r")
        await wait_for(pilot, lambda: "resumed job" in notes(app), 60, "the resume")
        record = registry.find(job["id"])
        assert record.slurm_job_id != first_id and record.slurm_job_id in squeue_ids() and record.resumes == 1
        assert f"SLURM job {record.slurm_job_id}" in notes(app)
        await wait_for(pilot, lambda: "pending (PartitionConfig)" in screen_text(app), 30, "the resubmitted row")
        script = Path(job["run_dir"], "slurm.sh").read_text()
        assert "#SBATCH --requeue" in script and "--cpus-per-task=2" in script


@needs_stack
@pytest.mark.training
@sync
async def test_launch_from_the_plan_screen_to_slurm_then_watch_and_stop(slurm_cluster, fake_gpus, tmp_path,
                                                                        cancel_leftovers):
    """The whole TUI path on SLURM: Plan screen -> SLURM target -> ctrl+l (sbatch) -> the Monitor follows the
    job's training under srun -> stop from the Monitor (scancel, out of the queue)."""
    fake_gpus("none")
    data = make_tiny_dataset(tmp_path)
    app = make_app(slurm=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.inventory is not None, what="the probe")
        await pilot.press("p")  # demo-cpu, 2 gloo workers
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen), what="the plan screen")
        screen = app.screen
        select = screen.query_one("#target")
        await wait_for(pilot, lambda: len(select._options) >= 3, what="partitions from sinfo")
        screen.query_one("#data-root").value = str(data)
        screen.query_one("#cfg").value = "default_hooks.logger.interval=1"
        select.value = "debug"
        await pilot.pause()
        screen.query_one("#slurm-time").value = "30:00"
        await wait_for(pilot, lambda: screen.plan is not None and any(c.id == "slurm-time" and "30:00" in c.detail
                                                                      for c in screen.plan.checks),
                       120, "the SLURM checklist")
        await pilot.press("ctrl+f")  # the tiny set is not the preset's: force past what fails
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the force confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 120, "the Monitor of the new job")
        record = registry.load_all()[-1]
        assert record.backend == registry.SLURM and record.slurm_job_id in squeue_ids()
        assert f"SLURM job {record.slurm_job_id}" in notes(app)
        assert "\n#SBATCH --time=30:00\n" in (record.run_path / "slurm.sh").read_text()
        await wait_for(pilot, lambda: "loss " in screen_text(app), 240, "training lines in the Monitor")
        assert f"SLURM job {record.slurm_job_id} RUNNING on" in screen_text(app)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the stop confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: f"SLURM job {record.slurm_job_id} cancelled" in notes(app), 120, "the stop")
        assert record.slurm_job_id not in squeue_ids()
        assert job_status.status(registry.find(record.id)) == status_words.STOPPED
