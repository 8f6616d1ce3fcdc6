"""scripts/gpu_check.sh up to where it needs a GPU: the wheel folder, the generated COCO-format set,
r50-fpn-1x resolved on it, and one clear line where the GPU part would start. The GPU is simulated
away (an inventory without a driver), so this holds on any machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GPU_SCENARIOS, REPO
from training_helpers import needs_stack

SCRIPT = REPO / "scripts" / "gpu_check.sh"


@pytest.fixture(scope="module")
def wheels() -> Path:
    """The repo's .whl/ when prepared, else scripts/gpu_check_prepare.sh into the build cache (8 MiB, once)."""
    local = REPO / ".whl"
    if (local / "mmcv-2.1.0.tar.gz").exists():
        return local
    base = os.environ.get("FRCNN_TUI_BUILD_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "frcnn-tui"
    cached = Path(base) / "gpu-check-wheels"
    if not (cached / "mmcv-2.1.0.tar.gz").exists():
        proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check_prepare.sh"), str(cached)],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            pytest.skip(f"the wheels could not be downloaded: {proc.stderr.strip()[-300:]}")
    return cached


def _run(tmp_path, *args, env=None):
    full = dict(os.environ, PYTHON=sys.executable, FRCNN_TUI_FAKE_GPUS=str(GPU_SCENARIOS / "none.json"),
                GPU_CHECK_TRAIN_IMAGES="6", KEEP_WORK="1", TMPDIR=str(tmp_path))
    full.update(env or {})
    full.pop("OUT", None)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=full, timeout=600,
                          cwd=tmp_path)


@needs_stack
def test_dry_run_checks_wheels_data_and_config_then_stops_for_want_of_a_gpu(tmp_path, wheels):
    out = tmp_path / "out"
    result = _run(tmp_path, "--dry-run", "--out", str(out), "--wheels", str(wheels))
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert "no NVIDIA GPU here" in last and "stopping before the mmcv CUDA build" in last
    report = (out / "report.md").read_text()
    assert "plan r50-fpn-1x --gpus 1" in report and "data pass" in report and "weights pass" in report
    assert {p.name for p in out.iterdir()} == {"report.md", "gpus.json", "logs.tar.gz"}
    [work] = tmp_path.glob("frcnn-gpu-check.*")
    train = json.loads((work / "coco" / "annotations" / "instances_train2017.json").read_text())
    assert len(train["images"]) == 6 and len(train["categories"]) == 80
    assert train["categories"][0]["name"] == "person" and max(i["width"] for i in train["images"]) == 640
    assert all((work / "coco" / "train2017" / i["file_name"]).is_file() for i in train["images"])


def test_a_missing_wheel_folder_fails_in_one_line_before_any_work(tmp_path):
    result = _run(tmp_path, "--dry-run", "--out", str(tmp_path / "out"), "--wheels", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert "FAILED: no " in result.stdout and "gpu_check_prepare.sh" in result.stdout.strip().splitlines()[-1]


@needs_stack
def test_with_a_gpu_but_a_cpu_torch_it_refuses_to_build_before_any_long_step(tmp_path, wheels):
    """A simulated H200 and this venv's CPU torch: the mmcv build is planned, and refused, at once."""
    result = _run(tmp_path, "--out", str(tmp_path / "out"), "--wheels", str(wheels),
                  env={"FRCNN_TUI_FAKE_GPUS": str(GPU_SCENARIOS / "h200.json")})
    assert result.returncode == 1
    last = result.stdout.strip().splitlines()[-1]
    assert "FAILED: no CUDA ops planned" in last and "CPU build" in last
    assert "COCO-format set" not in result.stdout  # stopped before the data, the build and the training
