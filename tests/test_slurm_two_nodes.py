"""Two nodes (issue 27), on the second cluster scripts/slurm_local.sh --two-nodes brings up beside the
one-node one: nodes n1 and n2, each its own slurmd on this machine, one CPU task a node over gloo.

A job over both nodes trains with the lr of both, and a node failure (its slurmd killed: SLURM marks the
node down after SlurmdTimeout and its job NODE_FAIL) requeues the job, which resumes once the node is
back with nothing trained again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from slurm_helpers import TWO_NODES_CONF, cancel_leftovers, start_requeued_now, two_nodes, wait_row  # noqa: F401
from test_checkpoint_resume import samples, train_iters
from test_slurm_cluster import slurm_launch
from training_helpers import explain, make_tiny_dataset, needs_stack, slow_loading, wait_for

pytestmark = [needs_stack, pytest.mark.training]

TRAIN_IMAGES, NODES, EPOCHS = 16, 2, 2
ITERS_PER_EPOCH = TRAIN_IMAGES // NODES  # one task a node, one image a task and iteration
RECORD = {"FRCNN_TUI_TEST_RECORD_SAMPLES": "1"}  # train_entry's test-only hook: image ids per rank and iteration


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data"), train=TRAIN_IMAGES)


def launch_on_two_nodes(data_root: Path, partition: str, epochs: int, options: tuple[str, ...] = (),
                        env: dict | None = None) -> tuple[dict, Path]:
    job = slurm_launch(data_root, "--nodes", str(NODES), partition=partition, nproc=1, epochs=epochs,
                       cfg_options=options, env={**RECORD, **(env or {})})
    return job, Path(job["run_dir"])


def test_a_two_node_job_trains_with_the_lr_of_both_nodes(two_nodes, data, cancel_leftovers):
    job, run_dir = launch_on_two_nodes(data, two_nodes, epochs=1)
    plan = json.loads((run_dir / "plan.json").read_text())
    # demo-cpu: base lr 0.002 for a batch of 4; 2 nodes x 1 task x 1 image = 2.
    assert (plan["nodes"], plan["world_size"], plan["total_batch"]) == (2, 2, 2)
    assert plan["lr"] == pytest.approx(0.002 * 2 / 4)
    row = wait_row(job["id"], lambda r: r["status"] not in ("pending", "running"), 300, "the job to end", poll=2)
    assert row["status"] == "succeeded", explain(run_dir)
    out = (run_dir / "stdout.log").read_text()
    assert "on n[1-2], restart 0" in out
    # Two ranks, one a node, each trained half the epoch; the optimizer ran with the plan's lr.
    assert [it for it, _ in samples(run_dir, 0)] == [it for it, _ in samples(run_dir, 1)] == \
        list(range(1, ITERS_PER_EPOCH + 1))
    ids = [i for rank in (0, 1) for _, batch in samples(run_dir, rank) for i in batch]
    assert len(ids) == len(set(ids)) == TRAIN_IMAGES
    assert f"lr={plan['lr']:g}" in (run_dir / "config.py").read_text().replace(" ", ""), "the config's lr"


def test_a_node_failure_requeues_the_job_which_resumes_with_nothing_redone(two_nodes, data, cancel_leftovers):
    # 3 s an image: the run lasts past the time SLURM takes to find the node gone (SlurmdTimeout 10 s).
    options, env = slow_loading("train_dataloader", seconds=3)
    job, run_dir = launch_on_two_nodes(data, two_nodes, EPOCHS, options, env)
    progress = run_dir / ".trained_iter"
    wait_for(lambda: progress.exists() and progress.read_text().strip() and int(progress.read_text()) >= 3, 300,
             "three iterations", poll=1)
    # n2 fails: its slurmd dies. SLURM finds the node not responding, sets it down, ends the job NODE_FAIL.
    n2 = int(Path("/run/slurm/slurmd-n2.pid").read_text())
    os.kill(n2, signal.SIGKILL)
    try:
        row = wait_row(job["id"], lambda r: (r["restarts"] or 0) >= 1 and r["status"] == "pending", 180,
                       "the job back in the queue", poll=2)
        node = subprocess.run(["sinfo", "-h", "-n", "n2", "-o", "%t"], capture_output=True, text=True).stdout.strip()
        assert node.startswith("down"), node
    finally:  # the node comes back (ReturnToService=2): its slurmd started again
        back = subprocess.run(["bash", str(REPO / "scripts" / "slurm_local.sh"), "--two-nodes"],
                              capture_output=True, text=True, env=dict(os.environ, QUIET="1"))
        assert back.returncode == 0, back.stderr
    start_requeued_now(job["slurm_job_id"])  # not after SLURM's hold of about two minutes
    row = wait_row(job["id"], lambda r: r["status"] not in ("pending", "running"), 300, "the resumed job", poll=2)
    assert row["status"] == "succeeded", (row, explain(run_dir))
    assert row["redone_per_restart"] == [0], (row, explain(run_dir))
    assert train_iters(run_dir) == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))
    for rank in (0, 1):
        assert [it for it, _ in samples(run_dir, rank)] == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))
    assert TWO_NODES_CONF  # the cluster this ran on
