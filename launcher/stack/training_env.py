"""The training interpreter, and on-demand inspection run inside it.

frcnn-tui itself never imports torch/mmcv/mmdet. Anything that needs them runs
env_inspect.py under the training interpreter (this venv by default, or a conda
env chosen with --python / FRCNN_TUI_PYTHON / `python = ...` in config.toml).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from launcher import paths
from launcher.errors import UserError

PYTHON_ENV = "FRCNN_TUI_PYTHON"


# config.toml's settings -> (type, what a wrong value should have been)
SETTINGS = {"python": (str, "a string (the training interpreter's path or command)")}


def settings() -> dict[str, Any]:
    """config.toml, checked: a wrong type (`python = 5`) is one line naming the file and the key."""
    path = paths.config_dir() / "config.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    for key, (kind, expected) in SETTINGS.items():
        if key in data and (not isinstance(data[key], kind) or not data[key] or "\0" in data[key]):
            raise UserError(f"{path}: '{key}' must be {expected}, got {data[key]!r}"[:200])
    return data


def training_python(explicit: str | None = None) -> str:
    """Which interpreter trains: --python, then $FRCNN_TUI_PYTHON, then config.toml, then this one."""
    choice = explicit or os.environ.get(PYTHON_ENV) or settings().get("python")
    if not choice:
        return sys.executable
    resolved = shutil.which(choice) if os.sep not in choice else choice
    if not resolved or not Path(resolved).is_file() or not os.access(resolved, os.X_OK):
        raise UserError(f"training interpreter not found or not executable: {choice}")
    return str(Path(resolved).absolute())


def run_script(python: str, script: str, args: list[str], *, what: str, timeout: float = 300) -> dict[str, Any]:
    """Run launcher/SCRIPT as a file under PYTHON; it prints one JSON object as its last
    stdout line. Failures come back as {'error': ...} saying WHAT failed."""
    cmd = [python, str(paths.package_file(script)), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"could not run {python}: {exc}"}
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    try:
        return json.loads(last)
    except json.JSONDecodeError:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"{python} failed to {what} (exit {proc.returncode}): {tail}"}


def inspect(python: str, args: list[str], timeout: float = 300) -> dict[str, Any]:
    """Run env_inspect.py with ARGS under PYTHON; failures come back as {'error': ...}."""
    return run_script(python, "stack/env_inspect.py", args, what="inspect the environment", timeout=timeout)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
