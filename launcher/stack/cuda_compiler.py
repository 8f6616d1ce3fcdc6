"""The CUDA compiler mmcv's ops are built with: the system's nvcc when it matches torch, else the registry's.

torch's cpp_extension compiles mmcv's .cu files with $CUDA_HOME/bin/nvcc, and the result only loads
beside a torch built for the same CUDA major.minor. A GPU box often has no toolkit, or another version,
and the build then fails minutes in. NVIDIA publishes the compiler on PyPI: for CUDA >= 13,
`cuda-toolkit[nvcc,cudart,cccl]` installs one tree, site-packages/nvidia/cuNN/ (bin, include, lib, nvvm),
usable as CUDA_HOME after two fixes (shared/reference/gpu-build.md): nvidia-nvvm and nvidia-cuda-crt
pinned to the same minor (the resolver otherwise takes the newest, whose ptxas rejects every .cu file),
and the unversioned libcudart.so the linker asks for. CUDA 12's wheels are split over several trees
(nvidia/cuda_nvcc, nvidia/cuda_runtime, ...) with no single CUDA_HOME, so only >= 13 is offered.

Runs in the venv's interpreter during the bootstrap, before frcnn-tui is installed: stdlib only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REGISTRY_MIN_MAJOR = 13


@dataclass
class Compiler:
    nvcc: str
    version: str | None  # "13.0", or None when `nvcc --version` says nothing we can read
    home: str | None  # the CUDA_HOME this nvcc belongs to


def major_minor(version: str | None) -> str | None:
    """'13.0.88' or '13.0' -> '13.0'; None stays None."""
    if not version:
        return None
    parts = str(version).split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else f"{parts[0]}.0"


def version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = major_minor(version).partition(".")
    return int(major), int(minor)


def nvcc_version(nvcc: str) -> str | None:
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"release (\d+)\.(\d+)", out)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def nvcc_home(nvcc: str) -> str | None:
    """The toolkit folder of this nvcc, as nvcc itself reports it (TOP): /usr/local/bin/nvcc is often
    a wrapper script, so the folder above it is only the fallback, and only when it holds the headers."""
    try:
        out = subprocess.run([nvcc, "-dryrun", "-E", "-x", "cu", os.devnull], capture_output=True, text=True,
                             timeout=60)
        match = re.search(r"^#\$ TOP=(.+)$", out.stdout + out.stderr, re.M)
    except (OSError, subprocess.TimeoutExpired):
        match = None
    if match:
        return os.path.normpath(match.group(1).strip())
    above = Path(os.path.realpath(nvcc)).parent.parent
    return str(above) if (above / "include" / "cuda_runtime.h").is_file() else None


def system_compilers(env: dict[str, str] | None = None) -> list[Compiler]:
    """nvcc under $CUDA_HOME / $CUDA_PATH, then on PATH: where torch's cpp_extension would look
    (its last resort, /usr/local/cuda, is left out so the choice depends only on the environment)."""
    env = dict(os.environ if env is None else env)
    found: list[Compiler] = []
    candidates = [str(Path(env[k]) / "bin" / "nvcc") for k in ("CUDA_HOME", "CUDA_PATH") if env.get(k)]
    on_path = shutil.which("nvcc", path=env.get("PATH", ""))
    if on_path:
        candidates.append(on_path)
    for nvcc in dict.fromkeys(candidates):
        if Path(nvcc).is_file() and os.access(nvcc, os.X_OK):
            found.append(Compiler(nvcc=nvcc, version=nvcc_version(nvcc), home=nvcc_home(nvcc)))
    return found


def matching_system_compiler(cuda: str, compilers: list[Compiler]) -> Compiler | None:
    return next((c for c in compilers if c.version == major_minor(cuda) and c.home), None)


def registry_supported(cuda: str) -> bool:
    return version_tuple(cuda)[0] >= REGISTRY_MIN_MAJOR


def registry_specs(cuda: str) -> list[str]:
    mm = major_minor(cuda)
    return [f"cuda-toolkit[nvcc,cudart,cccl]=={mm}.*", f"nvidia-nvvm=={mm}.*", f"nvidia-cuda-crt=={mm}.*"]


def registry_home(site_packages: Path, cuda: str) -> Path:
    return Path(site_packages) / "nvidia" / f"cu{version_tuple(cuda)[0]}"


def site_packages() -> Path:
    import sysconfig

    return Path(sysconfig.get_paths()["purelib"])


def registry_install_command(python: str, cuda: str, target: Path | None = None) -> list[str]:
    cmd = [python, "-m", "pip", "--disable-pip-version-check", "install"]
    if target is not None:
        cmd += ["--target", str(target)]
    return cmd + registry_specs(cuda)


def link_unversioned_cudart(home: Path) -> None:
    """The registry ships lib/libcudart.so.13 only; the final link of mmcv asks for -lcudart."""
    lib = Path(home) / "lib"
    plain = lib / "libcudart.so"
    if plain.exists():
        return
    versioned = sorted(lib.glob("libcudart.so.[0-9]*"), key=lambda p: len(p.name))
    if versioned:
        plain.symlink_to(versioned[0].name)


def registry_compiler_ready(home: Path, cuda: str) -> bool:
    nvcc = Path(home) / "bin" / "nvcc"
    return nvcc.is_file() and nvcc_version(str(nvcc)) == major_minor(cuda) and (Path(home) / "lib" / "libcudart.so").exists()


def install_registry_compiler(cuda: str, target: Path | None = None, python: str = sys.executable,
                              log=None) -> Path:
    """Install (or reuse) the registry's nvcc for CUDA `cuda` into this interpreter's site-packages,
    or into `target` (a cache folder). Returns its CUDA_HOME; raises RuntimeError with the reason."""
    if not registry_supported(cuda):
        raise RuntimeError(f"the registry's CUDA compiler is packaged as one CUDA_HOME only for CUDA >= "
                           f"{REGISTRY_MIN_MAJOR}, not {cuda}")
    home = registry_home(target if target is not None else site_packages(), cuda)
    if registry_compiler_ready(home, cuda):
        return home
    proc = subprocess.run(registry_install_command(python, cuda, target), stdout=log or subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout or "").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise RuntimeError(f"pip could not install the CUDA {cuda} compiler: {tail[0]}")
    link_unversioned_cudart(home)
    found = nvcc_version(str(home / "bin" / "nvcc"))
    if found != major_minor(cuda):
        raise RuntimeError(f"the registry's compiler under {home} reports CUDA {found}, not {cuda}")
    return home
