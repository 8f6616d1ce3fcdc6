"""SLURM as a backend, against a real one-node cluster (munged, slurmctld, slurmd from Debian's
slurm-wlm) that scripts/slurm_local.sh brings up: real sbatch, real srun, real mmdet training.

Without root or packages these tests are skipped with the script's reason (slurm_helpers)."""

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import run_cli
from launcher.jobs import identity
from slurm_helpers import (PARTITION, cancel_leftovers, job_row, slurm_cluster, squeue_ids,  # noqa: F401
                           start_requeued_now, wait_row)
from training_helpers import explain, needs_stack, scalars_lines, tiny_launch_args, wait_for

# A checkpoint every epoch, so a stop or a requeue after epoch 1 has one to resume from.
CHECKPOINT_EVERY_EPOCH = "default_hooks.checkpoint.interval=1"
TRAIN_EPOCH = re.compile(r"Epoch\(train\)\s+\[(\d+)\]")  # MMEngine's "Epoch(train)  [2][ 3/8]"


def slurm_launch(data_root: Path, *extra: str, epochs: int = 2, env: dict | None = None, nproc: int = 2,
                 partition: str = PARTITION, cfg_options: tuple[str, ...] = ()) -> dict:
    args = tiny_launch_args(data_root, epochs=epochs, nproc=nproc, cfg_options=cfg_options)
    # --cfg-options is the last flag of the tiny args (nargs="+"): SLURM flags go before it.
    cut = args.index("--cfg-options")
    result = run_cli("launch", *args[:cut], "--slurm", "--partition", partition, *extra, *args[cut:],
                     CHECKPOINT_EVERY_EPOCH, env=env)  # sbatch passes its environment on to the job
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def epochs_logged(run_dir: Path) -> set[int]:
    return {r["epoch"] for r in scalars_lines(run_dir) if "loss" in r and "epoch" in r}


async def monitor_text(job_id: str, expected: str) -> str:
    """The TUI's Monitor of JOB_ID (opened from the Jobs screen) once it shows EXPECTED."""
    from tui_support import make_app, screen_text, wait_for as wait_on_screen
    from tui.screens.monitor import MonitorScreen

    app = make_app(slurm=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("j")
        await wait_on_screen(pilot, lambda: job_id in screen_text(app), 30, "the job's row")
        await pilot.press("enter")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, MonitorScreen) and expected in screen_text(app),
                             30, f"{expected!r} in the Monitor")
        return screen_text(app)


def leftover_processes(job: dict) -> list:
    """Any process of the job still on this machine: it carries the job's marker, or runs in its run dir."""
    marked = identity.marked_processes(job["id"])
    in_run_dir = subprocess.run(["pgrep", "-f", job["run_dir"]], capture_output=True, text=True).stdout.split()
    return marked + in_run_dir


def test_gpu_form_is_accepted_on_a_node_with_gpu2(slurm_cluster, tmp_path, cli):
    """One task per GPU with --gres=gpu:2 and --launcher slurm, checked by sbatch --test-only
    against the node's declared gpu:2 (this machine has no GPU: the form is checked, not run)."""
    work = tmp_path / "run"
    result = cli("slurm", "--preset", "r50-fpn-1x", "--partition", slurm_cluster, "--gpus-per-node", "2",
                 "--cpus-per-task", "1", "--time", "10", "--work-dir", str(work), "--force", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["submitted"] is None and out["formula"] == "0.02 × (1×2×2)/16 = 0.005"
    script = (work / "slurm.sh").read_text()
    assert "#SBATCH --gres=gpu:2" in script and "#SBATCH --ntasks-per-node=2" in script
    assert "--launcher slurm" in script and "#SBATCH --requeue" in script
    checks = {c["id"]: c for c in json.loads((work / "plan.json").read_text())["checklist"]}
    assert checks["slurm-partition"]["status"] == "pass" and checks["slurm-resources"]["status"] == "pass"
    test = subprocess.run(["sbatch", "--test-only", str(work / "slurm.sh")], capture_output=True, text=True)
    assert test.returncode == 0 and "to start at" in test.stderr, test.stderr


def test_the_checklist_asks_the_cluster(slurm_cluster):
    """sinfo's partitions, GRES, CPUs and time limits against what a job asks for (the CLI and the
    Plan screen show these items; the tests above and in test_slurm_tui go through them)."""
    from launcher.jobs.slurm.checks import cluster_checks
    from launcher.jobs.slurm.script import SlurmSpec

    def items(**spec):
        return {c.id: c for c in cluster_checks(SlurmSpec(**spec))}

    ok = items(partition=slurm_cluster, tasks_per_node=2, cpus_per_task=1, time="10")
    assert [ok[k].status for k in ("slurm-partition", "slurm-resources", "slurm-time")] == ["pass"] * 3
    three = items(partition=slurm_cluster, tasks_per_node=3, cpus_per_task=1)
    assert three["slurm-resources"].status == "fail" and "2 GPU(s) (sinfo GRES)" in three["slurm-resources"].detail
    cpus = items(partition=slurm_cluster, cpu=True, tasks_per_node=2, cpus_per_task=2)
    assert cpus["slurm-resources"].status == "fail" and "most per node: 2 CPUs" in cpus["slurm-resources"].detail
    late = items(partition="short", tasks_per_node=1, cpus_per_task=1, time="1:00:00")
    assert late["slurm-time"].status == "fail"
    assert late["slurm-time"].detail == "--time 1:00:00 exceeds partition short's limit 00:10:00"
    assert items(partition="short", tasks_per_node=1, cpus_per_task=1, time="9:30")["slurm-time"].status == "pass"
    nodes = items(partition=slurm_cluster, nodes=2, tasks_per_node=1, cpus_per_task=1)
    assert nodes["slurm-partition"].status == "fail" and "partition debug has 1" in nodes["slurm-partition"].detail
    missing = items(partition="nosuch", tasks_per_node=1)
    assert missing["slurm-partition"].detail == "partition 'nosuch' does not exist (partitions: debug, short)"


def test_a_job_slurm_has_forgotten_is_judged_by_the_files_its_script_writes(slurm_cluster, tmp_path, monkeypatch):
    """No accounting here (sacct has nothing) and scontrol forgets a finished job after MinJobAge:
    then the exit status the batch script writes decides; with SLURM unreachable, 'unknown'."""
    from launcher.jobs import job_status, registry, status_words
    from launcher.jobs.slurm import cluster

    sacct = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True)
    assert sacct.stdout.strip() == ""  # accounting is off: nothing, whatever the job
    forgotten = "999999"
    assert cluster.job_info(forgotten) is None and cluster.in_queue(forgotten) is False
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = registry.JobRecord(
        id="20261130-000000-gone", name="gone", preset="demo-cpu", run_dir=str(run_dir), gpu_ids=[], cpu=True,
        nproc_per_node=2, nodes=1, pid=0, pgid=0, create_time=0.0, started_at=0.0, port=0, command=["sbatch"],
        python="python", backend=registry.SLURM, slurm_job_id=forgotten)
    assert job_status.status(record) == status_words.FAILED  # ended without writing its exit status
    (run_dir / registry.STOP_FILE).write_text("1")
    assert job_status.status(record) == status_words.STOPPED
    (run_dir / registry.EXIT_FILE).write_text("0\n")
    assert job_status.status(record) == status_words.SUCCEEDED
    (run_dir / registry.EXIT_FILE).unlink()
    monkeypatch.setenv("PATH", str(tmp_path))  # no scontrol: SLURM cannot be asked
    assert job_status.status(record) == status_words.STOPPED  # the stop file still says so
    (run_dir / registry.STOP_FILE).unlink()
    assert job_status.status(record) == status_words.UNKNOWN


@needs_stack
def test_job_that_cannot_start_is_pending_with_its_reason_then_stops(slurm_cluster, tiny_data, cancel_leftovers):
    # 2 tasks x 2 CPUs on a 2-CPU node: SLURM queues it and can never start it.
    job = slurm_launch(tiny_data, "--cpus-per-task", "2")
    checks = {c["id"]: c for c in job["plan"]["checklist"]}
    assert checks["slurm-resources"]["status"] == "fail"  # launched only because of --force
    assert job["backend"] == "slurm" and job["slurm_job_id"] in squeue_ids()
    row = wait_row(job["id"], lambda r: r["slurm_reason"] is not None, 30, "a pending reason")
    assert row["status"] == "pending" and row["slurm_state"] == "PENDING (PartitionConfig)", row
    assert row["devices"] == "slurm 1×cpu×2"
    listing = run_cli("jobs")
    assert "PENDING (PartitionConfig)" in listing.stdout.replace("\n", "") or "PENDING" in listing.stdout
    result = run_cli("stop", job["id"], "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "stopped"
    assert job["slurm_job_id"] not in squeue_ids()
    assert job_row(job["id"])["slurm_state"].startswith("CANCELLED")


@needs_stack
@pytest.mark.training
def test_cpu_job_runs_under_srun_to_succeeded_with_its_map_in_watch(slurm_cluster, tiny_data, cancel_leftovers):
    started = time.monotonic()
    job = slurm_launch(tiny_data, epochs=2)
    run_dir = Path(job["run_dir"])
    assert job["plan"]["formula"] == "0.002 × (1×2×1)/4 = 0.001"  # 1 node × 2 tasks × 1 image
    row = wait_row(job["id"], lambda r: r["status"] not in ("pending", "running"), 300, "the job to end", poll=2)
    assert row["status"] == "succeeded", explain(run_dir)
    assert (run_dir / "exit_status").read_text().strip() == "0"
    log = (run_dir / "stdout.log").read_text()
    assert f"frcnn-tui: SLURM job {job['slurm_job_id']}" in log and "restart 0" in log
    assert epochs_logged(run_dir) == {1, 2}
    # Both ranks ran under srun as one gloo world of 2.
    assert any("GPU number: 2" in p.read_text() for p in run_dir.glob("*/*.log"))
    logs = run_cli("logs", job["id"])  # SLURM's output file is the run dir's stdout.log
    assert logs.returncode == 0 and f"frcnn-tui: SLURM job {job['slurm_job_id']}" in logs.stdout
    watch = run_cli("watch", job["id"], "--once", "--json")
    assert watch.returncode == 0, watch.stderr
    snap = json.loads(watch.stdout)
    assert snap["status"] == "succeeded" and snap["best"]["value"] is not None, snap.get("best")
    print(f"2-epoch SLURM job: {time.monotonic() - started:.0f} s from launch to succeeded")


@needs_stack
@pytest.mark.training
def test_stop_cancels_leaving_nothing_then_resume_continues(slurm_cluster, tiny_data, cancel_leftovers):
    job = slurm_launch(tiny_data, epochs=2)
    run_dir = Path(job["run_dir"])
    wait_for(lambda: (run_dir / "last_checkpoint").is_file(), 240, "the epoch-1 checkpoint", poll=1)
    result = run_cli("stop", job["id"], "--json")
    assert result.returncode == 0, result.stderr
    stopped = json.loads(result.stdout)
    assert stopped["stopped"] == 1 and stopped["left"] == 0 and stopped["status"] == "stopped"
    assert job["slurm_job_id"] not in squeue_ids()
    assert job_row(job["id"])["slurm_state"].startswith("CANCELLED")
    assert leftover_processes(job) == []
    # resume: the same script again with --resume, a new SLURM job id, from the checkpoint.
    result = run_cli("resume", job["id"], "--json")
    assert result.returncode == 0, result.stderr
    resumed = json.loads(result.stdout)
    assert resumed["slurm_job_id"] != job["slurm_job_id"] and resumed["resumes"] == 1
    row = wait_row(job["id"], lambda r: r["status"] not in ("pending", "running"), 300, "the resumed job", poll=2)
    assert row["status"] == "succeeded", explain(run_dir)
    assert 2 in epochs_logged(run_dir)
    assert "Auto resumed" in (run_dir / "stdout.log").read_text() or any(
        "resumed" in p.read_text() for p in run_dir.glob("*/*.log"))


@needs_stack
@pytest.mark.training
def test_requeued_job_restarts_and_resumes_from_its_checkpoint(slurm_cluster, tiny_data, cancel_leftovers):
    job = slurm_launch(tiny_data, epochs=3)
    run_dir = Path(job["run_dir"])
    wait_for(lambda: (run_dir / "last_checkpoint").is_file(), 240, "the epoch-1 checkpoint", poll=1)
    subprocess.run(["scontrol", "requeue", job["slurm_job_id"]], check=True, capture_output=True)
    row = wait_row(job["id"], lambda r: (r["restarts"] or 0) >= 1 and r["status"] == "pending", 60,
                   "SLURM to queue it again")
    assert row["slurm_job_id"] == job["slurm_job_id"] and "restarts 1" in row["slurm_state"]
    assert "restarts 1" in asyncio.run(monitor_text(job["id"], "restarts 1"))  # the TUI's Monitor shows it
    start_requeued_now(job["slurm_job_id"])  # not after SLURM's hold of about two minutes
    wait_for(lambda: "restart 1" in (run_dir / "stdout.log").read_text(), 180, "the restarted job to start", poll=1)
    # It resumed by itself: the epochs trained after the restart start at 2, not 1.
    def epochs_after_restart() -> set[int]:
        log = (run_dir / "stdout.log").read_text()
        return {int(e) for e in TRAIN_EPOCH.findall(log[log.index("restart 1"):])}

    after = wait_for(lambda: (e := epochs_after_restart()) and 2 in e and e, 240, "epoch 2 after the restart", poll=1)
    assert min(after) >= 2, after
    # No need to train to the end: stop it, which also proves stop on a requeued job.
    assert run_cli("stop", job["id"]).returncode == 0
    assert job["slurm_job_id"] not in squeue_ids()
