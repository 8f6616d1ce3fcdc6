"""`frcnn-tui slurm`: the sbatch script in mmdet's slurm_train.sh layout, with the scaled lr."""

import json
from pathlib import Path

import pytest


def test_slurm_script_for_two_nodes_of_eight(cli, tmp_path):
    work = tmp_path / "run"
    result = cli("slurm", "--preset", "r50-fpn-1x", "--partition", "gpu", "--nodes", "2", "--gpus-per-node", "8",
                 "--seed", "0", "--work-dir", str(work), "--force", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["lr"] == 0.04 and out["formula"] == "0.02 × (2×8×2)/16 = 0.04" and out["submitted"] is None
    script = Path(out["script"]).read_text()
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=8", "#SBATCH --gres=gpu:8",
                 "#SBATCH --partition=gpu", "srun --kill-on-bad-exit=1", "--launcher slurm",
                 "CUDA_DEVICE_ORDER=PCI_BUS_ID"):
        assert line in script, line
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in script  # only a resume of its own checkpoint sets it
    config = (work / "config.py").read_text().replace(" ", "")
    assert "lr=0.04," in config and "collect_device='gpu'" in config
    plan = json.loads((work / "plan.json").read_text())
    assert plan["world_size"] == 16


def test_slurm_refuses_a_failing_checklist_and_submit_without_sbatch(cli, tmp_path):
    result = cli("slurm", "--preset", "r50-fpn-1x", "--partition", "gpu", "--work-dir", str(tmp_path / "a"))
    assert result.returncode == 1 and "checklist fails" in result.stderr and "data" in result.stderr
    # A PATH with nothing on it: no sbatch, whatever this machine has installed.
    no_tools = tmp_path / "empty-path"
    no_tools.mkdir()
    result = cli("slurm", "--preset", "r50-fpn-1x", "--partition", "gpu", "--force", "--submit",
                 "--work-dir", str(tmp_path / "b"), env={"PATH": str(no_tools)})
    assert result.returncode == 2 and "sbatch is not on PATH" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_what_each_slurm_state_means():
    """SLURM's states (squeue/scontrol/sacct) as the registry's words, SLURM's own shown beside them."""
    from launcher.jobs import status_words
    from launcher.jobs.slurm.cluster import JobInfo
    from launcher.jobs.slurm.state import describe, status_of

    expected = {"PENDING": "pending", "REQUEUED": "pending", "CONFIGURING": "pending", "RUNNING": "running",
                "COMPLETING": "running", "SUSPENDED": "running", "COMPLETED": "succeeded", "CANCELLED": "stopped",
                "FAILED": "failed", "TIMEOUT": "failed", "PREEMPTED": "failed", "NODE_FAIL": "failed",
                "OUT_OF_MEMORY": "failed"}
    for slurm_state, ours in expected.items():
        assert status_of(JobInfo(state=slurm_state), exit_code=None, stop_requested=False) == ours, slurm_state
    assert describe(JobInfo(state="PENDING", reason="Resources")) == "PENDING (Resources)"
    assert describe(JobInfo(state="RUNNING", nodes="node12", restarts=1)) == "RUNNING on node12, restarts 1"
    assert describe(JobInfo(state="TIMEOUT", reason="TimeLimit")) == "TIMEOUT (TimeLimit)"
    assert status_of(None, exit_code=3, stop_requested=False) == status_words.FAILED


def test_slurm_formats_time_limits_and_gres():
    from launcher.jobs.slurm.cluster import gpus_in_gres, parse_time_minutes

    assert [parse_time_minutes(t) for t in ("30", "10:30", "1:00:00", "2-0", "1-12:30", "1-00:00:01")] == \
        [30, 11, 60, 2880, 2190, 1441]
    assert parse_time_minutes("INFINITE") is None and parse_time_minutes("UNLIMITED") is None
    for bad in ("", "1:2:3:4", "x", "1-"):
        with pytest.raises(ValueError):
            parse_time_minutes(bad)
    assert [gpus_in_gres(g) for g in ("gpu:2", "gpu:a100:4(S:0-1)", "gpu:2,shard:8", "(null)", "")] == [2, 4, 2, 0, 0]


def test_sbatch_args_are_one_option_each(tmp_path):
    from launcher.errors import UserError
    from launcher.jobs.slurm.script import extra_directive

    assert extra_directive("--mem=32G") == "#SBATCH --mem=32G"
    assert extra_directive("--exclusive") == "#SBATCH --exclusive"
    assert extra_directive("--constraint=a100|h100") == '#SBATCH --constraint="a100|h100"'
    for bad in ("-C gpu", "--mem 32G", "mem=1", "--mem=1\n#SBATCH --x"):
        with pytest.raises(UserError):
            extra_directive(bad)


def test_launch_slurm_options_need_slurm_and_a_device_form(cli, tmp_path):
    result = cli("launch", "--preset", "demo-cpu", "--partition", "debug", "--work-dir", str(tmp_path / "a"))
    assert result.returncode == 2 and "--partition is a SLURM option: add --slurm" in result.stderr
    result = cli("launch", "--preset", "r50-fpn-1x", "--slurm", "--partition", "debug", "--gpus", "2")
    assert result.returncode == 2 and "--gpus-per-node" in result.stderr
    result = cli("launch", "--preset", "r50-fpn-1x", "--slurm", "--partition", "debug", "--cpu", "--nproc", "2",
                 "--gpus-per-node", "2")
    assert result.returncode == 2 and "not both" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
