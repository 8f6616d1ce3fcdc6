"""Real mmdet FasterRCNN training under real torchrun with 2 gloo workers, and real job control."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import REPO, default_signals, run_cli
from launcher.monitor import history_cache, history_keeper
from launcher.monitor.metrics import JobMetrics
from launcher.monitor.run_follower import catch_up, planned_warmup_iters
from launcher.monitor.workdir import WorkDirTailer
from launcher.planning.plan import free_port
from training_helpers import (explain, job_status, launch, needs_stack, scalars_lines,
                              tiny_launch_args, wait_done, wait_for)

pytestmark = [needs_stack, pytest.mark.training]


def test_train_entry_under_torchrun_trains_and_checkpoints(tiny_data, tmp_path):
    """The training entry alone (no launcher): torchrun, 2 gloo workers, mmdet's FasterRCNN."""
    work = tmp_path / "work"
    config = REPO / "presets" / "configs" / "faster-rcnn_r18_fpn_demo-cpu.py"
    root = str(tiny_data) + "/"
    opts = [f"{split}_dataloader.dataset.data_root={root}" for split in ("train", "val", "test")] + [
        f"val_evaluator.ann_file={root}annotations/instances_val.json",
        f"test_evaluator.ann_file={root}annotations/instances_val.json",
        "train_cfg.max_epochs=1", "train_dataloader.batch_size=2", "default_hooks.logger.interval=1",
        "param_scheduler.0.end=2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
                           "--master-addr=127.0.0.1", f"--master-port={free_port()}",
                           str(REPO / "launcher" / "stack" / "train_entry.py"), str(config), "--launcher", "pytorch",
                           "--work-dir", str(work), "--cfg-options", *opts],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = scalars_lines(work)
    train = [r for r in rows if "loss" in r]
    assert train and all(math.isfinite(r["loss"]) for r in train)
    assert (work / "epoch_1.pth").is_file() and (work / "last_checkpoint").is_file()
    assert any("coco/bbox_mAP" in r for r in rows)
    # MMEngine prints its world size as "GPU number" even on CPU.
    assert any("GPU number: 2" in p.read_text() for p in work.glob("*/*.log"))


def test_launch_runs_then_succeeds_and_records_everything(tiny_data, monkeypatch):
    # Keep the parsed history however short it is, to see that the job's rank 0 keeps it.
    monkeypatch.setenv(history_keeper.MIN_BYTES_ENV, "0")
    job = launch(*tiny_launch_args(tiny_data, epochs=1))
    run_dir = Path(job["run_dir"])
    assert job["status"] == "running" and job_status(job["id"]) == "running"
    assert wait_done(job["id"]) == "succeeded", explain(run_dir)
    for name in ("config.py", "plan.json", "launch.sh", "stdout.log", "stderr.log", "exit_status"):
        assert (run_dir / name).exists(), name
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["lr"] == 0.001 and plan["formula"] == "0.002 × (1×2×1)/4 = 0.001"
    assert "optim_wrapper" in (run_dir / "config.py").read_text()
    assert "lr=0.001," in (run_dir / "config.py").read_text().replace(" ", "")
    assert "torch.distributed.run" in (run_dir / "launch.sh").read_text()
    assert (run_dir / "exit_status").read_text().strip() == "0"
    rows = scalars_lines(run_dir)
    assert any("loss" in r for r in rows) and any("coco/bbox_mAP" in r for r in rows)
    # The job kept its history up to its last line: its first reader restores it and
    # has nothing left to parse, and sees what parsing every line gives.
    tailer = WorkDirTailer(run_dir)
    kept = JobMetrics(max_epochs=1, warmup_iters=planned_warmup_iters(run_dir))
    assert history_cache.restore(tailer, kept)
    assert tailer.bytes_read == sum(f.path.stat().st_size for f in tailer.followed_files())
    scratch = JobMetrics(max_epochs=1, warmup_iters=planned_warmup_iters(run_dir))
    catch_up(WorkDirTailer(run_dir), scratch, keep=False)
    assert kept.snapshot(series=True, now=0) == scratch.snapshot(series=True, now=0)


def test_job_survives_a_hangup_of_the_launching_session(tiny_data, tmp_path):
    out = tmp_path / "launch.json"
    # The launching shell stays alive (like an SSH session) until we hang it up.
    cmd = (f"{sys.executable} -m launcher.cli launch {' '.join(tiny_launch_args(tiny_data, epochs=2))} > {out}; "
           f"sleep 600")
    shell = subprocess.Popen(["bash", "-c", cmd], cwd=REPO, start_new_session=True, stdin=subprocess.DEVNULL,
                             preexec_fn=default_signals)
    try:
        wait_for(lambda: out.exists() and out.stat().st_size > 0 and out.read_text().rstrip().endswith("}"),
                 120, "launch output")
        job = json.loads(out.read_text())
        wait_for(lambda: scalars_lines(Path(job["run_dir"])), 180, "training to log")
        os.killpg(shell.pid, signal.SIGHUP)
        shell.wait(timeout=10)
        time.sleep(3)
        # A hangup that reached the job would leave it failed; with the fast demo recipe the
        # tiny run may already have finished in these 3 s, which is survival too.
        assert job_status(job["id"]) in ("running", "succeeded")
        assert wait_done(job["id"]) == "succeeded", explain(Path(job["run_dir"]))
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)


def _job_pids(job: dict) -> list[psutil.Process]:
    from launcher.jobs import identity, registry

    return identity.job_processes(registry.find(job["id"]))


def test_stop_leaves_zero_processes_and_resume_continues(tiny_data):
    job = launch(*tiny_launch_args(tiny_data, epochs=3))
    run_dir = Path(job["run_dir"])
    wait_for(lambda: (run_dir / "last_checkpoint").exists(), 300, "the first checkpoint")
    procs = _job_pids(job)
    assert len(procs) >= 3  # bash, the torchrun agent, 2 workers
    result = run_cli("stop", job["id"], "--grace", "20", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["left"] == 0
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)
    assert _job_pids(job) == []
    assert job_status(job["id"]) == "stopped"

    # Resume on one worker instead of two: the plan records what that does to the lr.
    result = run_cli("resume", job["id"], "--nproc", "1", "--json")
    assert result.returncode == 0, result.stderr
    assert "--nproc-per-node=1" in (run_dir / "launch.sh").read_text()
    notes = json.loads((run_dir / "plan.json").read_text())["resume_notes"]
    assert "world size 1 instead of 2" in notes[0] and "comes from the checkpoint" in notes[0]
    assert wait_done(job["id"]) == "succeeded", explain(run_dir)
    folders = sorted(p for p in run_dir.iterdir() if p.is_dir() and (p / "vis_data").is_dir())
    assert len(folders) >= 2
    resumed = [json.loads(line) for line in (folders[-1] / "vis_data" / "scalars.json").read_text().splitlines()]
    first_train = next(r for r in resumed if "loss" in r)
    assert first_train["epoch"] >= 2  # continued, did not restart at epoch 1
    assert (run_dir / "epoch_3.pth").exists()


def test_two_launches_at_once_get_different_ports_and_both_succeed(tiny_data):
    args = tiny_launch_args(tiny_data, epochs=1, nproc=1)
    procs = [subprocess.Popen([sys.executable, "-m", "launcher.cli", "launch", *args], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    jobs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        jobs.append(json.loads(out))
    assert jobs[0]["port"] != jobs[1]["port"]
    for job in jobs:
        assert wait_done(job["id"]) == "succeeded", explain(Path(job["run_dir"]))


def test_two_torchrun_agents_form_one_two_node_job(tiny_data):
    port = str(free_port())
    common = tiny_launch_args(tiny_data, epochs=1, nproc=1) + ["--nodes", "2", "--master-addr", "127.0.0.1",
                                                               "--port", port]
    node0 = launch(*common, "--node-rank", "0", "--name", "node0")
    node1 = launch(*common, "--node-rank", "1", "--name", "node1")
    assert "--nnodes=2" in node0["command"] and f"--rdzv-endpoint=127.0.0.1:{port}" in node1["command"]
    for job in (node0, node1):
        assert wait_done(job["id"]) == "succeeded", explain(Path(job["run_dir"]))
    logs = "".join(p.read_text() for job in (node0, node1) for p in Path(job["run_dir"]).glob("*/*.log"))
    assert "GPU number: 2" in logs  # MMEngine's name for the world size
    plan = json.loads((Path(node0["run_dir"]) / "plan.json").read_text())
    assert plan["world_size"] == 2 and plan["lr"] == 0.001
