"""What frcnn-tui writes is private, and checkpoints are fully unpickled only when a job resumes its own."""

from __future__ import annotations

import importlib.util
import os
import stat

from launcher import paths
from launcher.planning.plan import build_command


def test_state_and_run_dirs_are_made_private_even_when_they_existed(frcnn_home, tmp_path):
    for folder in (frcnn_home / "state", frcnn_home / "state" / "jobs", frcnn_home / "state" / "runs"):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
    assert stat.S_IMODE(paths.state_dir().stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.jobs_dir().stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.runs_dir().stat().st_mode) == 0o700
    work_dir = tmp_path / "work"
    work_dir.mkdir(mode=0o777)
    assert stat.S_IMODE(paths.ensure_private_dir(work_dir).stat().st_mode) == 0o700


def _train_entry():
    # A file the training interpreter runs (stdlib only at import): loaded as that file.
    spec = importlib.util.spec_from_file_location("train_entry", paths.package_file("stack/train_entry.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_full_unpickling_only_for_a_resume_of_the_jobs_own_checkpoint(tmp_path, monkeypatch):
    _, env = build_command("python", cpu=True, gpu_ids=[], nproc=1, nodes=1, node_rank=0, master_addr=None,
                           port=29500, config_file=tmp_path / "config.py", run_dir=tmp_path)
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in env  # launch.sh and slurm.sh never set it
    entry = _train_entry()
    monkeypatch.setenv("LOCAL_RANK", "0")  # parse_args sets it otherwise, for the rest of the session
    for argv, expected in (([], None), (["--resume", "/elsewhere/model.pth"], None), (["--resume"], "1")):
        monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
        entry.allow_full_unpickling(entry.parse_args(["config.py", *argv]))
        assert os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD") == expected, argv
