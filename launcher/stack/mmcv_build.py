"""The bootstrap's decisions for building mmcv: which torch, CPU or CUDA ops, which compiler, which GPUs.

scripts/bootstrap.sh asks this module (run by the venv's interpreter) and then acts, so every decision
can be printed and tested without the 20-minute build: `scripts/bootstrap.sh --plan-only` shows them.
It reads the driver and the GPUs' compute capabilities through NVML (FRCNN_TUI_FAKE_GPUS simulates
them), the CUDA version of the torch the venv has (or would get), and the nvcc the environment offers.
Stdlib only (plus the probe): it runs before frcnn-tui's dependencies are installed.

    python -m launcher.stack.mmcv_build plan [--json | --shell] [--offline] [--source mmcv-2.1.0.tar.gz]
    python -m launcher.stack.mmcv_build install-compiler --cuda 13.0 [--target DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from launcher.hardware.gpu_probe import Inventory, probe
from launcher.stack import cuda_compiler
from launcher.stack.cuda_compiler import major_minor, version_tuple

MMCV_VERSION = "2.1.0"
TORCH_PIN = "2.13.0"
# The CUDA build the registry's Linux x86_64 torch wheel of that version carries (its metadata requires
# cuda-toolkit 13.0.3; checked 2026-11-30). A GPU box without torch gets that build from `pip install`.
TORCH_PIN_CUDA = "13.0"


@dataclass
class BuildPlan:
    python_tag: str
    gpus: list[str] = field(default_factory=list)
    probe_error: str | None = None
    driver_version: str | None = None
    driver_cuda: str | None = None
    torch: str | None = None  # the version kept, or the one to install
    torch_cuda: str | None = None
    torch_install: list[str] = field(default_factory=list)  # empty: keep the venv's torch
    cuda_ops: bool = False
    arch_list: str | None = None
    compiler: str | None = None  # "system" or "registry"
    nvcc: str | None = None
    cuda_home: str | None = None
    compiler_install: list[str] = field(default_factory=list)
    cache_key: str = ""
    build_env: dict[str, str] = field(default_factory=dict)
    wheel_command: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stop: str | None = None  # set: the set-up cannot succeed; say this and build nothing

    def to_dict(self) -> dict:
        return asdict(self)


def installed_torch() -> tuple[str | None, str | None]:
    """(version, CUDA) of the torch this interpreter imports; (None, None) when there is none."""
    try:
        import torch
    except Exception:  # absent, or a broken install: either way the bootstrap installs one
        return None, None
    return str(torch.__version__), (str(torch.version.cuda) if getattr(torch.version, "cuda", None) else None)


def arch_list(inventory: Inventory) -> str | None:
    """TORCH_CUDA_ARCH_LIST for the GPUs present only ('8.0;9.0'); None when one is unknown."""
    caps = [g.compute_capability for g in inventory.gpus if g.error is None]
    if not caps or any(c is None for c in caps):
        return None
    return ";".join(sorted(set(caps), key=version_tuple))


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _describe(inventory: Inventory) -> list[str]:
    return [f"GPU {g.index}: {g.name or 'unknown'} (compute {g.compute_capability or 'unknown'})"
            for g in inventory.gpus]


def _use_other_env(what: str) -> str:
    return (f"{what}, or use an existing environment that has mmcv's CUDA ops: "
            f"frcnn-tui --python PATH (or FRCNN_TUI_PYTHON=PATH)")


def build_plan(inventory: Inventory, torch: tuple[str | None, str | None], compilers: list[cuda_compiler.Compiler],
               *, python: str, site_packages: Path, cores: int, env: dict[str, str], offline: bool = False,
               source: Path | None = None) -> BuildPlan:
    """offline: no registry to install a compiler from, so a system nvcc of torch's CUDA major will do
    (torch's cpp_extension accepts a minor mismatch, with a warning). source: a local mmcv sdist."""
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    plan = BuildPlan(python_tag=f"py{sys.version_info.major}.{sys.version_info.minor}",
                     gpus=_describe(inventory), probe_error=inventory.error,
                     driver_version=inventory.driver_version, driver_cuda=inventory.cuda_driver_version)
    has_gpu = any(g.error is None for g in inventory.gpus)
    plan.torch, plan.torch_cuda = torch
    if plan.torch is None:
        plan.torch, plan.torch_install = TORCH_PIN, pip + ["install", f"torch=={TORCH_PIN}"]
        # Off a GPU box this resolves to whatever torch build the index offers (as before this module);
        # on one, the registry's Linux wheel is the CUDA build, so its CUDA must suit the driver.
        plan.torch_cuda = TORCH_PIN_CUDA if has_gpu else None
        if has_gpu and plan.driver_cuda and version_tuple(plan.driver_cuda) < version_tuple(TORCH_PIN_CUDA):
            plan.stop = (f"the NVIDIA driver {plan.driver_version} supports CUDA up to {plan.driver_cuda}, and "
                         f"the registry's torch {TORCH_PIN} is built for CUDA {TORCH_PIN_CUDA}: update the driver, "
                         f"or install a torch built for CUDA <= {plan.driver_cuda} into .venv first (.venv/bin/pip "
                         f"install torch --index-url https://download.pytorch.org/whl/cuXYZ) and rerun")
    # The key of the CPU build is the one caches already hold. Before torch is installed it is provisional:
    # the bootstrap plans again once torch is there, and that key names the wheel.
    plan.cache_key = f"{plan.python_tag}-torch{plan.torch}-mmcv{MMCV_VERSION}"
    plan.build_env = {"MMCV_WITH_OPS": "1", "MAX_JOBS": env.get("MAX_JOBS") or str(cores)}
    plan.wheel_command = pip + ["wheel", "--no-cache-dir", "--no-deps", "--no-build-isolation", "-v"] + (
        ["--no-index", str(source)] if source else [f"mmcv=={MMCV_VERSION}"])
    if not has_gpu:
        return plan  # CPU ops only, as ever: mmcv's setup.py skips CUDA without a device or FORCE_CUDA
    if not plan.torch_cuda:
        plan.notes.append(f"torch {plan.torch} is a CPU build: mmcv gets CPU ops only, and a GPU plan fails its "
                          f"cuda check until a CUDA torch is installed in .venv")
        return plan
    if plan.driver_cuda and version_tuple(plan.torch_cuda) > version_tuple(plan.driver_cuda) and not plan.stop:
        plan.notes.append(f"torch's CUDA {plan.torch_cuda} is newer than the driver's CUDA {plan.driver_cuda}: "
                          f"it may not see the GPUs until the driver is updated")
    plan.cuda_ops = True
    plan.arch_list = arch_list(inventory)
    if plan.arch_list is None:
        plan.notes.append("a GPU's compute capability is unknown: building for torch's default architectures")
    mm = major_minor(plan.torch_cuda)
    system = cuda_compiler.matching_system_compiler(mm, compilers)
    if system is not None:
        plan.compiler, plan.nvcc, plan.cuda_home = "system", system.nvcc, system.home
    elif not offline and cuda_compiler.registry_supported(mm):
        home = cuda_compiler.registry_home(site_packages, mm)
        plan.compiler, plan.cuda_home, plan.nvcc = "registry", str(home), str(home / "bin" / "nvcc")
        if not cuda_compiler.registry_compiler_ready(home, mm):
            plan.compiler_install = pip + ["install", *cuda_compiler.registry_specs(mm)]
    elif offline and (near := next((c for c in compilers if c.version and c.home
                                    and version_tuple(c.version)[0] == version_tuple(mm)[0]), None)):
        plan.compiler, plan.nvcc, plan.cuda_home = "system", near.nvcc, near.home
        plan.notes.append(f"nvcc {near.version} for torch's CUDA {mm}: the same major, which torch accepts "
                          f"(no registry to fetch CUDA {mm}'s own compiler from)")
    else:
        seen = ", ".join(f"{c.nvcc} is CUDA {c.version or '?'}" for c in compilers) or "no nvcc on PATH"
        plan.stop = plan.stop or _use_other_env(
            f"torch {plan.torch} needs a CUDA {mm} compiler for mmcv's ops ({seen}; " + (
                "no registry to fetch one from" if offline else
                f"the registry's compiler is for CUDA >= {cuda_compiler.REGISTRY_MIN_MAJOR}")
            + f"): install CUDA toolkit {mm} and set CUDA_HOME")
    if plan.compiler:
        plan.build_env.update(FORCE_CUDA="1", CUDA_HOME=plan.cuda_home)
        if plan.arch_list:
            plan.build_env["TORCH_CUDA_ARCH_LIST"] = plan.arch_list
    arch = "-".join("sm" + a.replace(".", "") for a in plan.arch_list.split(";")) if plan.arch_list else "smdefault"
    plan.cache_key = f"{plan.python_tag}-torch{plan.torch}-cuda{mm}-{arch}-mmcv{MMCV_VERSION}"
    return plan


def current_plan(offline: bool = False, source: Path | None = None) -> BuildPlan:
    return build_plan(probe(), installed_torch(), cuda_compiler.system_compilers(), python=sys.executable,
                     site_packages=cuda_compiler.site_packages(), cores=cpu_cores(), env=dict(os.environ),
                     offline=offline, source=source)


def shell_lines(plan: BuildPlan) -> str:
    """PLAN_* assignments for the bootstrap to eval (every value quoted)."""
    values = {
        "PLAN_STOP": plan.stop or "", "PLAN_TORCH_INSTALL": shlex.join(plan.torch_install),
        "PLAN_CUDA_OPS": "1" if plan.cuda_ops else "", "PLAN_TORCH_CUDA": plan.torch_cuda or "",
        "PLAN_COMPILER": plan.compiler or "", "PLAN_CUDA_HOME": plan.cuda_home or "",
        "PLAN_COMPILER_INSTALL": shlex.join(plan.compiler_install), "PLAN_CACHE_KEY": plan.cache_key,
        "PLAN_WHEEL": shlex.join(plan.wheel_command),
        "PLAN_BUILD_ENV": " ".join(f"{k}={shlex.quote(v)}" for k, v in plan.build_env.items()),
        "PLAN_NOTES": " | ".join(plan.notes),
    }
    return "\n".join(f"{k}={shlex.quote(v)}" for k, v in values.items())


def human_lines(plan: BuildPlan) -> str:
    gpus = "; ".join(plan.gpus) if plan.gpus else f"none ({plan.probe_error or 'NVML found no GPU'})"
    torch = (f"install {plan.torch} (CUDA {plan.torch_cuda or 'none'})" if plan.torch_install
             else f"keep {plan.torch} (CUDA {plan.torch_cuda or 'none'})")
    rows = [("gpus", gpus), ("driver", f"{plan.driver_version} (CUDA {plan.driver_cuda})" if plan.driver_version
             else "none"), ("torch", torch), ("mmcv ops", "CUDA + CPU" if plan.cuda_ops else "CPU only")]
    if plan.cuda_ops:
        rows += [("compiler", f"{plan.compiler or 'none'}: {plan.nvcc or '-'}"), ("CUDA_HOME", plan.cuda_home or "-"),
                 ("TORCH_CUDA_ARCH_LIST", plan.arch_list or "(torch's default)")]
    rows += [("MAX_JOBS", plan.build_env["MAX_JOBS"]), ("cache key", plan.cache_key)]
    for label, cmd in (("pip (torch)", plan.torch_install), ("pip (compiler)", plan.compiler_install)):
        if cmd:
            rows.append((label, shlex.join(cmd)))
    env = " ".join(f"{k}={v}" for k, v in plan.build_env.items())
    rows.append(("pip (mmcv)", f"{env} {shlex.join(plan.wheel_command)}"))
    rows += [("note", n) for n in plan.notes]
    if plan.stop:
        rows.append(("STOP", plan.stop))
    return "\n".join(f"{label:>21}: {value}" for label, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mmcv_build")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("plan")
    show.add_argument("--json", action="store_true")
    show.add_argument("--shell", action="store_true")
    show.add_argument("--offline", action="store_true", help="no registry: only the system's nvcc")
    show.add_argument("--source", type=Path, help="build from this mmcv sdist instead of the index")
    install = sub.add_parser("install-compiler")
    install.add_argument("--cuda", required=True)
    install.add_argument("--target", type=Path)
    args = parser.parse_args(argv)
    if args.command == "install-compiler":
        try:
            print(cuda_compiler.install_registry_compiler(args.cuda, args.target, log=sys.stderr))
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    plan = current_plan(args.offline, args.source.absolute() if args.source else None)
    print(json.dumps(plan.to_dict(), indent=1) if args.json else shell_lines(plan) if args.shell
          else human_lines(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
