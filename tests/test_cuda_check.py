"""The checklist's `cuda` item: a GPU plan whose training interpreter cannot run on those GPUs fails
before launch (a CPU torch, a torch newer than the driver, mmcv ops without CUDA or for another CUDA).

Through the CLI on a simulated inventory, the interpreter is this venv's, whose torch is the CPU build:
the failure there is real. The other cases need a CUDA torch this machine lacks, so they feed the
check the versions env_inspect reports (its own fields) and the inventory the probe reads."""

from __future__ import annotations

import json

from conftest import GPU_SCENARIOS
from launcher.hardware.fake_nvml import FakeNVML
from launcher.hardware.gpu_probe import probe_with
from launcher.planning.checklist import check_cuda
from training_helpers import needs_stack


def _plan(cli, *args, fake):
    result = cli("plan", "--preset", "r50-fpn-1x", "--json", *args, env={"FRCNN_TUI_FAKE_GPUS": str(GPU_SCENARIOS / f"{fake}.json")})
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    data = json.loads(result.stdout)
    return data, {c["id"]: c for c in data["checklist"]}


@needs_stack
def test_an_eight_gpu_plan_with_the_cpu_torch_fails_the_cuda_check(cli):
    data, checks = _plan(cli, "--gpus", "8", fake="eight")
    assert data["versions"]["cuda_build"] is None  # this venv: torch 2.13.0+cpu
    assert checks["cuda"]["status"] == "fail" and "CPU build" in checks["cuda"]["detail"]
    assert "CUDA torch" in checks["cuda"]["hint"] and "--cpu" in checks["cuda"]["hint"]
    assert data["status"] == "fail"
    human = cli("plan", "--preset", "r50-fpn-1x", "--gpus", "8",
                env={"FRCNN_TUI_FAKE_GPUS": str(GPU_SCENARIOS / "eight.json")})
    assert human.returncode == 1 and "cuda" in human.stdout and "CPU build" in human.stdout


@needs_stack
def test_a_cpu_plan_has_no_cuda_check(cli):
    data, checks = _plan(cli, "--cpu", "--nproc", "2", fake="eight")
    assert "cuda" not in checks and data["cpu"] is True
    assert checks["versions"]["status"] == "pass"
    assert data["versions"]["mmcv_cuda"] == "not available"  # env_inspect reads it from mmcv's own ops


def _inventory(name: str):
    return probe_with(FakeNVML.from_file(GPU_SCENARIOS / f"{name}.json"))


STACK = {"torch": "2.11.0+cu130", "cuda_build": "13.0", "mmcv": "2.1.0", "mmcv_cuda": "13.0",
         "mmdet": "3.3.0", "mmengine": "0.10.7"}


def test_a_cuda_torch_with_cuda_mmcv_on_a_new_enough_driver_passes():
    check = check_cuda(_inventory("h200"), STACK)
    assert check.status == "pass" and "torch CUDA 13.0, driver CUDA 13.0, mmcv ops CUDA 13.0" in check.detail


def test_a_torch_newer_than_the_driver_fails_with_the_driver_named():
    check = check_cuda(_inventory("eight"), STACK)  # driver 550.54.15: CUDA 12.4
    assert check.status == "fail" and "newer than the driver's CUDA 12.4" in check.detail
    assert "550.54.15" in check.detail and "update the NVIDIA driver" in check.hint


def test_mmcv_without_cuda_ops_or_for_another_cuda_fails_with_the_rebuild():
    cpu_ops = check_cuda(_inventory("h200"), dict(STACK, mmcv_cuda="not available"))
    assert cpu_ops.status == "fail" and "CPU ops only" in cpu_ops.detail and "make setup" in cpu_ops.hint
    other = check_cuda(_inventory("h200"), dict(STACK, mmcv_cuda="12.8"))
    assert other.status == "fail" and "CUDA 12.8" in other.detail


def test_unknown_versions_leave_it_to_the_versions_check():
    assert check_cuda(_inventory("h200"), {"error": "could not run python"}) is None


@needs_stack
def test_doctor_says_what_cuda_mmcvs_ops_were_built_for(cli):
    data = json.loads(cli("doctor", "--json").stdout)
    [cuda] = [c for c in data["checks"] if c["name"] == "cuda"]
    assert "mmcv ops: CUDA not available" in cuda["detail"]  # this venv: CPU ops only
