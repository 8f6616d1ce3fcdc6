"""Helpers for tests that run real mmdet training under torchrun on a tiny synthetic set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli

TINY = dict(train=16, val=8, size=128)


def stack_available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import mmcv.ops, mmdet"], capture_output=True)
    return probe.returncode == 0


needs_stack = pytest.mark.skipif(not stack_available(), reason="training stack (mmcv with ops, mmdet) not installed")


def make_tiny_dataset(root: Path, **sizes: int) -> Path:
    """The TINY set, or another size (``train=``, ``val=``, ``size=``) for tests that need learning."""
    sizes = {**TINY, **sizes}
    out = root / "tiny-shapes-{train}-{val}-{size}".format(**sizes)
    subprocess.run([sys.executable, str(REPO / "launcher" / "stack" / "synthetic_data.py"), "--out", str(out), "--seed", "3",
                    "--train", str(sizes["train"]), "--val", str(sizes["val"]), "--size", str(sizes["size"])],
                   check=True, capture_output=True)
    return out


def tiny_launch_args(data_root: Path, epochs: int = 1, nproc: int = 2, *, imgs_per_gpu: int = 1,
                     warmup_iters: int = 2, cfg_options: tuple[str, ...] = (),
                     data_flag: str = "--data-root") -> list[str]:
    # Shortened schedule on purpose: --force accepts the checklist's schedule failure.
    # data_flag "--data": DATA_ROOT is a dataset in one of the layouts launcher/data/ detects.
    return ["--preset", "demo-cpu", "--cpu", "--nproc", str(nproc), "--seed", "0", data_flag, str(data_root),
            "--imgs-per-gpu", str(imgs_per_gpu), "--force", "--json", "--cfg-options", f"train_cfg.max_epochs={epochs}",
            "default_hooks.logger.interval=1", f"param_scheduler.0.end={warmup_iters}", *cfg_options]


def slow_loading(dataloader: str, seconds: float = 2) -> tuple[tuple[str, ...], dict]:
    """The --cfg-options and the environment that make DATALOADER ("train_dataloader",
    "val_dataloader") load each image SECONDS late, through tests/slow_data_plugin.py imported
    as a user imports their own transform (custom_imports, this folder on the job's PYTHONPATH)."""
    options = ("custom_imports.imports=[slow_data_plugin]", "custom_imports.allow_failed_imports=False",
               f"{dataloader}.dataset.pipeline.0.type=SlowLoadImageFromFile", f"{dataloader}.num_workers=0")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")])),
           "SLOW_DATA_DELAY_S": str(seconds)}
    return options, env


def launch(*args: str) -> dict:
    result = run_cli("launch", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def job_status(job_id: str) -> str:
    result = run_cli("jobs", "--json")
    assert result.returncode == 0, result.stderr
    return {j["id"]: j["status"] for j in json.loads(result.stdout)["jobs"]}[job_id]


def wait_for(predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_done(job_id: str, timeout: float = 300) -> str:
    return wait_for(lambda: (s := job_status(job_id)) != "running" and s, timeout, f"job {job_id} to end")


def scalars_lines(run_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(Path(run_dir).glob("*/vis_data/scalars.json")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def explain(run_dir: Path) -> str:
    err = Path(run_dir) / "stderr.log"
    return err.read_text()[-3000:] if err.exists() else "(no stderr.log)"
