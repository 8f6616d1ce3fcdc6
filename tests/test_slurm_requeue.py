"""SLURM's warning before the time limit, and the job requeueing itself (issue 27), on the real
one-node cluster that scripts/slurm_local.sh brings up (skipped with its reason where it cannot)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from slurm_helpers import cancel_leftovers, slurm_cluster, start_requeued_now, wait_row  # noqa: F401
from test_checkpoint_resume import samples, train_iters
from test_slurm_cluster import slurm_launch
from training_helpers import explain, make_tiny_dataset, needs_stack, slow_loading, wait_for

TRAIN_IMAGES, NPROC, EPOCHS = 24, 2, 2  # slurm_launch's: 2 CPU tasks, 2 epochs
ITERS_PER_EPOCH = TRAIN_IMAGES // NPROC
SAVED = re.compile(r"checkpoint on request \(slurm-signal\) at iteration (\d+), epoch (\d+) batch (\d+)")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data"), train=TRAIN_IMAGES)


@pytest.fixture
def paced(monkeypatch) -> tuple[str, ...]:
    """The --cfg-options that make each iteration at least half a second long (a slowed loader):
    what these tests send after iteration 3 must reach the ranks inside epoch 1 however fast the
    machine trains (at 0.1 s an iteration, seen on CI, epoch 1 was over before SLURM delivered
    the warning). Its environment is this test's, so the launch and a `resume` pass it on alike."""
    options, env = slow_loading("train_dataloader", seconds=0.5)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return options


def into_epoch_1(data_root: Path, paced: tuple[str, ...], *slurm_args: str) -> tuple[dict, Path]:
    """A SLURM demo job, once it has trained 3 iterations of its first epoch (rank 0's progress file)."""
    job = slurm_launch(data_root, *slurm_args, cfg_options=paced)
    run_dir = Path(job["run_dir"])
    progress = run_dir / ".trained_iter"
    wait_for(lambda: progress.exists() and progress.read_text().strip() and int(progress.read_text()) >= 3, 300,
             "three iterations", poll=0.2)
    return job, run_dir


def finishes_with_nothing_redone(job: dict, run_dir: Path) -> None:
    """The restarted job runs to its end, every iteration trained once, 0 redone as `jobs` says."""
    row = wait_row(job["id"], lambda r: r["status"] not in ("pending", "running"), 300, "the restarted job", poll=2)
    assert row["status"] == "succeeded" and row["redone_per_restart"] == [0], explain(run_dir)
    assert train_iters(run_dir) == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))


def release_requeued(job: dict) -> dict:
    """Wait until the job's script requeued it; SLURM holds a requeued job back about two minutes
    (Reason=BeginTime): let it start now."""
    row = wait_row(job["id"], lambda r: (r["restarts"] or 0) >= 1 and r["status"] == "pending", 180,
                   "the job to requeue itself", poll=1)
    start_requeued_now(job["slurm_job_id"])
    return row


def test_a_partition_that_cancels_on_preemption_is_named_in_the_checklist(slurm_cluster):
    from launcher.jobs.slurm.checks import cluster_checks
    from launcher.jobs.slurm.script import SlurmSpec

    def preemption(partition: str):
        return {c.id: c for c in cluster_checks(SlurmSpec(partition=partition, tasks_per_node=1))}["slurm-preemption"]

    assert preemption(slurm_cluster).status == "pass" and "PreemptMode OFF" in preemption(slurm_cluster).detail
    subprocess.run(["scontrol", "update", "PartitionName=short", "PreemptMode=CANCEL"], check=True)
    try:
        item = preemption("short")
    finally:
        subprocess.run(["scontrol", "update", "PartitionName=short", "PreemptMode=OFF"], check=True)
    assert item.status == "warn" and "cancelled, not requeued (--requeue does nothing)" in item.detail
    assert "frcnn-tui resume" in item.hint


@needs_stack
@pytest.mark.training
def test_the_warning_signal_checkpoints_inside_an_epoch_and_the_job_requeues_itself_and_finishes(
        slurm_cluster, data, paced, cancel_leftovers):
    job = slurm_launch(data, "--time", "10", "--checkpoint-grace", "120", cfg_options=paced,
                       env={"FRCNN_TUI_TEST_RECORD_SAMPLES": "1"})
    run_dir = Path(job["run_dir"])
    assert "\n#SBATCH --signal=B:USR1@120\n" in (run_dir / "slurm.sh").read_text()
    wait_for(lambda: (run_dir / "samples" / "rank0.jsonl").exists() and len(samples(run_dir, 0)) >= 3, 300,
             "three iterations of the first epoch", poll=0.2)
    # What SLURM sends 120 s before the time limit (its own timing is coarse, up to a minute early).
    subprocess.run(["scancel", "--batch", "--signal=USR1", job["slurm_job_id"]], check=True, capture_output=True)
    row = release_requeued(job)
    assert "requeued after a checkpoint on SLURM's warning (exit 75): restart 1 of at most 2" in row["slurm_state"]
    saved = [tuple(map(int, m)) for m in SAVED.findall((run_dir / "stdout.log").read_text())]
    assert len(saved) == 1, explain(run_dir)
    iteration, epoch, batch = saved[0]
    assert epoch == 1 and 0 < batch < ITERS_PER_EPOCH and iteration == batch  # inside the first epoch
    row = wait_row(job["id"], lambda r: r["status"] not in ("pending", "running"), 300, "the requeued job", poll=2)
    assert row["status"] == "succeeded" and row["restarts"] == 1, explain(run_dir)
    assert row["redone_per_restart"] == [0]  # work lost at the restart, as jobs shows it
    # Resumed at the same iteration: each iteration trained once, the ranks' images each once an epoch.
    assert train_iters(run_dir) == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))
    for rank in range(NPROC):
        rows = samples(run_dir, rank)
        assert [it for it, _ in rows] == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))
    # The first attempt's sentinel reported a stop at the checkpoint, not a failure.
    kinds = [(e["kind"], e["text"]) for e in map(json.loads, (run_dir / "events.jsonl").read_text().splitlines())]
    assert not [k for k, _ in kinds if k == "failed"], kinds
    assert any(k == "stopped" and f"on SLURM's warning at a checkpoint of iteration {iteration}" in t
               for k, t in kinds), kinds
    # One job in the registry: the script run again from the top registered nothing.
    assert [j["id"] for j in json.loads(run_cli("jobs", "--json").stdout)["jobs"]] == [job["id"]]


@needs_stack
@pytest.mark.training
def test_max_restarts_1_stops_a_job_that_always_fails_at_start_with_the_reason(slurm_cluster, data,
                                                                               cancel_leftovers):
    job = slurm_launch(data, "--max-restarts", "1", env={"FRCNN_TUI_TEST_RAISE_AT": "0:1"})
    release_requeued(job)
    row = wait_row(job["id"], lambda r: r["status"] == "failed" and r.get("requeue", "").startswith("not requeued"),
                   300, "the second failure")
    assert row["restarts"] == 1
    # srun's status: the failing rank's 1, or the 143 of the rank srun then ended (--kill-on-bad-exit).
    assert re.search(r"not requeued after exit (1|143): --max-restarts 1 reached", row["slurm_state"]), row
    assert "restart 1" in (Path(job["run_dir"]) / "stdout.log").read_text()


@needs_stack
@pytest.mark.training
def test_a_warned_job_that_may_not_requeue_is_resumed_by_hand_with_nothing_redone(slurm_cluster, data, paced,
                                                                                  cancel_leftovers):
    job, run_dir = into_epoch_1(data, paced, "--max-restarts", "0")
    subprocess.run(["scancel", "--batch", "--signal=USR1", job["slurm_job_id"]], check=True, capture_output=True)
    row = wait_row(job["id"], lambda r: r["status"] not in ("pending", "running"), 180, "the warned job to end")
    assert "not requeued after a checkpoint on SLURM's warning (exit 75): --max-restarts 0 reached" in row["slurm_state"]
    result = run_cli("resume", job["id"], "--json")
    assert result.returncode == 0, result.stderr
    finishes_with_nothing_redone(job, run_dir)


@needs_stack
@pytest.mark.training
def test_a_requeue_without_warning_checkpoints_within_killwait_and_loses_nothing(slurm_cluster, data, paced,
                                                                                 cancel_leftovers):
    """What a preemption with PreemptMode REQUEUE does: SIGTERM now, SIGKILL after KillWait, back in the queue."""
    job, run_dir = into_epoch_1(data, paced)
    subprocess.run(["scontrol", "requeue", job["slurm_job_id"]], check=True, capture_output=True)
    release_requeued(job)
    finishes_with_nothing_redone(job, run_dir)


@needs_stack
@pytest.mark.training
def test_stop_checkpoint_of_a_slurm_job_saves_within_killwait_and_resume_redoes_nothing(slurm_cluster, data, paced,
                                                                                        cancel_leftovers):
    job, run_dir = into_epoch_1(data, paced)
    result = run_cli("stop", job["id"], "--checkpoint", "--json")
    assert result.returncode == 0, result.stderr
    stopped = json.loads(result.stdout)
    # Mostly inside epoch 1; on a loaded machine the request can reach the ranks at the epoch's last
    # batch, which is as valid a place to save: either way the resume below must redo nothing.
    assert stopped["status"] == "stopped" and 0 < stopped["checkpoint"]["batches_done"] <= ITERS_PER_EPOCH, stopped
    assert run_cli("resume", job["id"]).returncode == 0
    finishes_with_nothing_redone(job, run_dir)
