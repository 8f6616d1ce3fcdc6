"""`frcnn-tui slurm`: the sbatch script in mmdet's slurm_train.sh layout, with the scaled lr."""

import json
from pathlib import Path


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
