"""doctor against the real training stack, another interpreter, and the bootstrap's failure lines."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from training_helpers import needs_stack


@needs_stack
def test_doctor_passes_here_with_compiled_ops(cli):
    result = cli("doctor", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 0 and data["ok"], data
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["mmcv.ops.RoIAlign"]["ok"] and checks["mmcv.ops.batched_nms"]["ok"]
    assert checks["mmcv"]["detail"] == "2.1.0" and checks["mmdet"]["detail"] == "3.3.0"
    assert checks["mmengine"]["detail"] == "0.10.7"
    human = cli("doctor")
    assert "RoIAlign" in human.stdout and "OK" in human.stdout


def _bare_python(tmp_path):
    """A real interpreter without the training stack: a fresh venv without packages."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


def test_doctor_on_an_interpreter_without_mmdet_fails_with_hints(cli, tmp_path):
    bare = _bare_python(tmp_path)
    result = cli("doctor", "--python", str(bare))
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    assert "FAIL" in result.stdout and "mmdet" in result.stdout and "fix:" in result.stdout
    data = json.loads(cli("doctor", "--python", str(bare), "--json").stdout)
    assert data["ok"] is False
    assert {c["name"] for c in data["checks"] if not c["ok"] and c["required"]} >= {"torch", "mmcv", "mmdet"}


def test_plan_with_a_missing_interpreter_is_one_line(cli):
    result = cli("plan", "--preset", "r50-fpn-1x", "--python", "/nonexistent/python")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "training interpreter not found" in result.stderr


def test_plan_with_an_interpreter_without_mmdet_fails_the_versions_check(cli, tmp_path):
    bare = _bare_python(tmp_path)
    result = cli("plan", "--preset", "r50-fpn-1x", "--python", str(bare), "--json")
    assert result.returncode == 1
    checks = {c["id"]: c for c in json.loads(result.stdout)["checklist"]}
    assert checks["versions"]["status"] == "fail" or checks["config"]["status"] == "fail"


@pytest.mark.parametrize("python,message", [("no-such-python3", "no no-such-python3 on PATH"),
                                            ("false", "is older than 3.11")])
def test_bootstrap_failures_are_one_line_with_the_log(tmp_path, python, message):
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "bootstrap.sh", root / "scripts" / "bootstrap.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    result = subprocess.run(["bash", str(root / "scripts" / "bootstrap.sh")], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON": python})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert message in line and "full log:" in line
    assert not (root / ".venv" / ".frcnn-tui-ready").exists()
