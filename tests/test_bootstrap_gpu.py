"""The bootstrap's GPU branch, by simulation: scripts/bootstrap.sh in a throw-away clone with its own venv.

What is simulated, and only that: the GPUs (FRCNN_TUI_FAKE_GPUS), the torch in the venv (a stand-in
package that reports a version and its CUDA), nvcc (scripts that report a version), and, for the runs
that go past planning, the package registry (a stand-in `pip` module in the venv that records what it
was asked and lays down what a real install would: torch, the registry's nvcc tree, an mmcv wheel).
The bootstrap, the planning module and the shell logic between them run for real. PATH holds only the
tools the script needs, so what this machine has installed (its own nvcc) cannot leak in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GPU_SCENARIOS, REPO

PYTAG = f"py{sys.version_info.major}.{sys.version_info.minor}"
TOOLS = ("bash", "dirname", "mkdir", "date", "env", "mktemp", "ls", "head", "grep", "tail", "tr", "mv", "rm",
         "touch", "sleep", "nproc", "cat", "flock")

FAKE_PIP = '''
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
command = next(a for a in args if not a.startswith("-"))
site = Path(__file__).resolve().parent.parent
keys = ("FORCE_CUDA", "TORCH_CUDA_ARCH_LIST", "CUDA_HOME", "MAX_JOBS", "MMCV_WITH_OPS", "PATH")
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "env": {k: os.environ.get(k) for k in keys}}) + "\\n")
if command == "install" and any(a.startswith("torch==") for a in args):
    cuda = os.environ.get("FAKE_PIP_TORCH_CUDA")
    version = "2.13.0+" + ("cu" + cuda.replace(".", "") if cuda else "cpu")
    (site / "torch").mkdir(exist_ok=True)
    (site / "torch" / "__init__.py").write_text(
        f"__version__ = {version!r}\\nclass version:\\n    cuda = {cuda!r}\\n")
if command == "install" and any(a.startswith("cuda-toolkit[") for a in args):
    major = next(a for a in args if a.startswith("cuda-toolkit[")).split("==")[1].split(".")[0]
    home = site / "nvidia" / f"cu{major}"
    for sub in ("bin", "lib", "include"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / "bin" / "nvcc").write_text(f"#!/bin/sh\\necho 'Cuda compilation tools, release {major}.0, V{major}.0.88'\\n")
    (home / "bin" / "nvcc").chmod(0o755)
    (home / "lib" / f"libcudart.so.{major}").write_bytes(b"")
if command == "wheel":
    out = Path(args[args.index("-w") + 1])
    (out / "mmcv-2.1.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"")
'''


def _tools(tmp_path: Path) -> Path:
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in TOOLS:
        (tools / name).symlink_to(shutil.which(name))
    (tools / "g++").symlink_to(shutil.which("true"))  # the fake pip compiles nothing
    return tools


def _fake_nvcc(folder: Path, release: str, headers: bool = False) -> Path:
    """An nvcc that reports `release`; with headers, a toolkit folder it can stand for (CUDA_HOME)."""
    (folder / "bin").mkdir(parents=True)
    nvcc = folder / "bin" / "nvcc"
    nvcc.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.99'\n")
    nvcc.chmod(0o755)
    if headers:
        (folder / "include").mkdir()
        (folder / "include" / "cuda_runtime.h").write_text("")
    return folder / "bin"


class Clone:
    """scripts/bootstrap.sh and the source tree it plans from, with a venv of its own."""

    def __init__(self, tmp_path: Path, torch: tuple[str, str | None] | None, fake_pip: bool = False):
        self.root = tmp_path / "clone"
        (self.root / "scripts").mkdir(parents=True)
        shutil.copy(REPO / "scripts" / "bootstrap.sh", self.root / "scripts" / "bootstrap.sh")
        shutil.copy(REPO / "pyproject.toml", self.root / "pyproject.toml")
        (self.root / "launcher").symlink_to(REPO / "launcher")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(self.root / ".venv")], check=True)
        self.site = Path(subprocess.run(
            [str(self.root / ".venv" / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True).stdout.strip())
        if torch is not None:
            version, cuda = torch
            (self.site / "torch").mkdir()
            (self.site / "torch" / "__init__.py").write_text(
                f"__version__ = {version!r}\nclass version:\n    cuda = {cuda!r}\n")
        if fake_pip:
            (self.site / "pip").mkdir()
            (self.site / "pip" / "__init__.py").write_text("")
            (self.site / "pip" / "__main__.py").write_text(FAKE_PIP)
        self.tmp = tmp_path
        self.tools = _tools(tmp_path)
        self.pip_log = tmp_path / "pip.jsonl"

    def run(self, *args: str, gpus: str = "none", path: list[Path] = (), env: dict | None = None):
        full_env = {"PATH": os.pathsep.join(map(str, [*path, self.tools])), "HOME": str(self.tmp),
                    "PYTHON": sys.executable, "FRCNN_TUI_FAKE_GPUS": str(GPU_SCENARIOS / f"{gpus}.json"),
                    "FRCNN_TUI_BUILD_CACHE": str(self.tmp / "cache"), "FAKE_PIP_LOG": str(self.pip_log),
                    **(env or {})}
        return subprocess.run(["bash", str(self.root / "scripts" / "bootstrap.sh"), *args], capture_output=True,
                              text=True, env=full_env, timeout=120)

    def plan(self, **kw) -> dict:
        result = self.run("--plan-json", **kw)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def pip_calls(self) -> list[dict]:
        return [json.loads(line) for line in self.pip_log.read_text().splitlines()] if self.pip_log.exists() else []


def test_no_gpu_plans_the_cpu_build_as_before(tmp_path):
    plan = Clone(tmp_path, torch=("2.13.0+cpu", None)).plan(gpus="none")
    assert plan["cuda_ops"] is False and plan["torch_install"] == [] and plan["stop"] is None
    assert plan["cache_key"] == f"{PYTAG}-torch2.13.0+cpu-mmcv2.1.0"  # the key existing caches hold
    assert set(plan["build_env"]) == {"MMCV_WITH_OPS", "MAX_JOBS"}


def test_gpu_without_nvcc_on_path_plans_the_registry_compiler_in_the_venv(tmp_path):
    clone = Clone(tmp_path, torch=("2.11.0+cu130", "13.0"))
    plan = clone.plan(gpus="h200")
    home = clone.site / "nvidia" / "cu13"
    assert plan["cuda_ops"] and plan["compiler"] == "registry" and plan["cuda_home"] == str(home)
    assert plan["compiler_install"][-3:] == ["cuda-toolkit[nvcc,cudart,cccl]==13.0.*", "nvidia-nvvm==13.0.*",
                                            "nvidia-cuda-crt==13.0.*"]
    assert plan["arch_list"] == "9.0"
    assert plan["build_env"] == {"MMCV_WITH_OPS": "1", "MAX_JOBS": str(len(os.sched_getaffinity(0))),
                                 "FORCE_CUDA": "1", "CUDA_HOME": str(home), "TORCH_CUDA_ARCH_LIST": "9.0"}
    assert plan["cache_key"] == f"{PYTAG}-torch2.11.0+cu130-cuda13.0-sm90-mmcv2.1.0"
    assert "--no-cache-dir" in plan["wheel_command"]


def test_a_system_nvcc_of_another_cuda_is_passed_over(tmp_path):
    clone = Clone(tmp_path, torch=("2.11.0+cu130", "13.0"))
    other = _fake_nvcc(tmp_path / "cuda-12.4", "12.4", headers=True)
    plan = clone.plan(gpus="mixed", path=[other])
    assert plan["compiler"] == "registry" and plan["cuda_home"] == str(clone.site / "nvidia" / "cu13")
    assert plan["arch_list"] == "7.0;8.0"  # the A100 and the V100; the T4 fell off the bus
    assert any("newer than the driver's CUDA 12.2" in n for n in plan["notes"])
    human = clone.run("--plan-only", gpus="mixed", path=[other]).stdout
    assert "TORCH_CUDA_ARCH_LIST: 7.0;8.0" in human and "cuda-toolkit[nvcc,cudart,cccl]==13.0.*" in human


def test_a_matching_system_nvcc_is_used_with_its_own_cuda_home(tmp_path):
    clone = Clone(tmp_path, torch=("2.11.0+cu130", "13.0"))
    bin_dir = _fake_nvcc(tmp_path / "cuda-13.0", "13.0", headers=True)
    plan = clone.plan(gpus="h200", path=[bin_dir])
    assert plan["compiler"] == "system" and plan["cuda_home"] == str(tmp_path / "cuda-13.0")
    assert plan["compiler_install"] == [] and plan["build_env"]["CUDA_HOME"] == str(tmp_path / "cuda-13.0")


def test_a_cpu_torch_on_a_gpu_box_builds_cpu_ops_and_says_why(tmp_path):
    plan = Clone(tmp_path, torch=("2.13.0+cpu", None)).plan(gpus="h200")
    assert plan["cuda_ops"] is False and "FORCE_CUDA" not in plan["build_env"]
    assert any("CPU build" in n for n in plan["notes"])


def test_no_torch_on_a_gpu_box_installs_the_registry_cuda_build_if_the_driver_can_run_it(tmp_path):
    clone = Clone(tmp_path, torch=None)
    plan = clone.plan(gpus="h200")
    assert plan["torch_install"][-1] == "torch==2.13.0" and plan["torch_cuda"] == "13.0" and plan["stop"] is None
    old_driver = clone.plan(gpus="eight")  # driver CUDA 12.4
    assert "supports CUDA up to 12.4" in old_driver["stop"] and "--index-url" in old_driver["stop"]


def test_no_usable_compiler_stops_before_anything_long_in_one_line(tmp_path):
    clone = Clone(tmp_path, torch=("2.5.1+cu121", "12.1"), fake_pip=True)
    other = _fake_nvcc(tmp_path / "cuda-12.4", "12.4")
    result = clone.run(gpus="h200", path=[other])
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "needs a CUDA 12.1 compiler" in line and "CUDA 12.4" in line
    assert "FRCNN_TUI_PYTHON" in line and "--python" in line and "full log:" in line
    # Only the build tools were installed: no torch, no project, no compiler, no mmcv build.
    [call] = clone.pip_calls()  # pinned: `install -c constraints.txt PACKAGES`
    assert "setuptools>=77,<81" in call["args"] and not any("torch" in a or "[train" in a for a in call["args"])
    assert not (clone.root / ".venv" / ".frcnn-tui-ready").exists()


def test_gpu_run_installs_the_registry_compiler_and_builds_with_its_env(tmp_path):
    """Through the build step: the registry's nvcc goes into the venv (with the libcudart.so link the
    link step needs), and `pip wheel` runs with FORCE_CUDA, the arch list, CUDA_HOME and all cores."""
    clone = Clone(tmp_path, torch=None, fake_pip=True)
    result = clone.run(gpus="h200", env={"FAKE_PIP_TORCH_CUDA": "13.0"})
    # The stand-in mmcv wheel has no ops, so the run ends at the import check, after the build.
    assert result.returncode == 1 and "installed but its ops do not import" in result.stderr
    calls = clone.pip_calls()
    installs = [" ".join(c["args"]) for c in calls]
    assert any("torch==2.13.0" in a for a in installs)
    assert any("cuda-toolkit[nvcc,cudart,cccl]==13.0.*" in a and "nvidia-nvvm==13.0.*" in a for a in installs)
    home = clone.site / "nvidia" / "cu13"
    assert os.readlink(home / "lib" / "libcudart.so") == "libcudart.so.13"
    [wheel] = [c for c in calls if "-w" in c["args"]]
    assert wheel["env"]["FORCE_CUDA"] == "1" and wheel["env"]["TORCH_CUDA_ARCH_LIST"] == "9.0"
    assert wheel["env"]["CUDA_HOME"] == str(home) and wheel["env"]["PATH"].split(":")[0] in (
        str(home / "bin"), "/usr/lib/ccache")
    assert str(home / "bin") in wheel["env"]["PATH"].split(":")
    assert wheel["env"]["MAX_JOBS"] == str(len(os.sched_getaffinity(0)))
    key = f"{PYTAG}-torch2.13.0+cu130-cuda13.0-sm90-mmcv2.1.0"
    assert list((tmp_path / "cache" / "wheels" / key).glob("mmcv-2.1.0-*.whl"))
    assert "building mmcv 2.1.0 with CUDA (9.0" in result.stdout
    assert "installing torch==2.13.0 (the CUDA 13.0 build)" in result.stdout


def test_no_gpu_run_builds_as_before(tmp_path):
    clone = Clone(tmp_path, torch=None, fake_pip=True)
    result = clone.run(gpus="none")
    assert result.returncode == 1 and "installed but its ops do not import" in result.stderr
    assert "installing torch==2.13.0 (CPU build)" in result.stdout
    calls = clone.pip_calls()
    [wheel] = [c for c in calls if "-w" in c["args"]]
    assert wheel["env"]["FORCE_CUDA"] is None and wheel["env"]["CUDA_HOME"] is None
    assert not any("cuda-toolkit" in " ".join(c["args"]) for c in calls)
    assert (tmp_path / "cache" / "wheels" / f"{PYTAG}-torch2.13.0+cpu-mmcv2.1.0").is_dir()


def _build_cache() -> Path:
    """The bootstrap's own cache folder (FRCNN_TUI_BUILD_CACHE, else XDG_CACHE_HOME or ~/.cache): the
    registry's compiler downloads once per machine, not once per test run."""
    base = os.environ.get("FRCNN_TUI_BUILD_CACHE")
    return Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "frcnn-tui"


KERNEL = r"""
#include <cuda_fp16.h>
__global__ void scale(float* x, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = __half2float(__float2half(x[i] * a));
}
extern "C" void launch_scale(float* x, float a, int n) { scale<<<(n + 255) / 256, 256>>>(x, a, n); }
"""


def test_the_registry_compiler_builds_a_cuda_kernel_for_sm90_without_a_gpu(tmp_path):
    """The compiler the bootstrap installs (the project's own install-compiler), into a cached folder;
    then a one-kernel extension through it for sm_90: cuda_fp16.h needs the cccl headers, the ptxas
    step the pinned nvvm/crt, and the shared-library link the unversioned libcudart.so."""
    if not (shutil.which("g++") and shutil.which("gcc")):
        pytest.skip("no host C++ compiler (g++) for nvcc")
    target = _build_cache() / "cuda-13.0"
    install = subprocess.run([sys.executable, "-m", "launcher.stack.mmcv_build", "install-compiler", "--cuda", "13.0",
                              "--target", str(target)], capture_output=True, text=True, cwd=REPO, timeout=600)
    if install.returncode != 0:
        pytest.skip(f"the registry's CUDA 13.0 compiler could not be installed: {install.stderr.strip()[-300:]}")
    home = Path(install.stdout.strip().splitlines()[-1])
    assert home == target / "nvidia" / "cu13"
    nvcc = home / "bin" / "nvcc"
    assert "release 13.0" in subprocess.run([str(nvcc), "--version"], capture_output=True, text=True).stdout
    (tmp_path / "scale.cu").write_text(KERNEL)
    env = dict(os.environ, PATH=f"{home / 'bin'}:{os.environ['PATH']}", CUDA_HOME=str(home))
    compiled = subprocess.run([str(nvcc), "-arch=sm_90", "-c", "scale.cu", "-o", "scale.o"], cwd=tmp_path,
                              capture_output=True, text=True, env=env, timeout=300)
    assert compiled.returncode == 0, compiled.stderr
    assert b"sm_90" in (tmp_path / "scale.o").read_bytes()
    linked = subprocess.run([str(nvcc), "-arch=sm_90", "-shared", "-Xcompiler", "-fPIC", "scale.cu", "-o",
                             "libscale.so", f"-L{home / 'lib'}", "-lcudart"], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=300)
    assert linked.returncode == 0, linked.stderr


def test_offline_a_system_nvcc_of_the_same_major_will_do_and_a_local_sdist_is_built(tmp_path):
    """scripts/gpu_check.sh's case: no registry to fetch CUDA 13.0's own nvcc from, a 13.2 one installed."""
    clone = Clone(tmp_path, torch=("2.11.0+cu130", "13.0"))
    bin_dir = _fake_nvcc(tmp_path / "cuda-13.2", "13.2", headers=True)
    sdist = tmp_path / "mmcv-2.1.0.tar.gz"
    env = {"PATH": f"{bin_dir}:{clone.tools}", "PYTHONPATH": str(REPO), "HOME": str(tmp_path),
           "FRCNN_TUI_FAKE_GPUS": str(GPU_SCENARIOS / "h200.json")}
    result = subprocess.run([str(clone.root / ".venv" / "bin" / "python"), "-m", "launcher.stack.mmcv_build", "plan",
                             "--json", "--offline", "--source", str(sdist)], capture_output=True, text=True, env=env)
    plan = json.loads(result.stdout)
    assert plan["compiler"] == "system" and plan["cuda_home"] == str(tmp_path / "cuda-13.2") and plan["stop"] is None
    assert any("nvcc 13.2 for torch's CUDA 13.0" in n for n in plan["notes"])
    assert plan["wheel_command"][-2:] == ["--no-index", str(sdist)]
    online = subprocess.run([str(clone.root / ".venv" / "bin" / "python"), "-m", "launcher.stack.mmcv_build", "plan",
                             "--json"], capture_output=True, text=True, env=env)
    assert json.loads(online.stdout)["compiler"] == "registry"  # with a registry, CUDA 13.0's own compiler
