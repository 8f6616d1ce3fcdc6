"""Where frcnn-tui keeps its state, caches and user presets.

FRCNN_TUI_HOME overrides everything (tests point it at a temp dir); otherwise the
XDG dirs from platformdirs are used.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "frcnn-tui"


def _home() -> Path | None:
    value = os.environ.get("FRCNN_TUI_HOME")
    return Path(value).expanduser() if value else None


def _ensure(path: Path) -> Path:
    # 0700: the registry holds command lines and paths of the user's jobs.
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def state_dir() -> Path:
    home = _home()
    return _ensure(home / "state" if home else Path(platformdirs.user_state_dir(APP)))


def cache_dir() -> Path:
    home = _home()
    return _ensure(home / "cache" if home else Path(platformdirs.user_cache_dir(APP)))


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def jobs_dir() -> Path:
    return _ensure(state_dir() / "jobs")


def runs_dir() -> Path:
    return _ensure(state_dir() / "runs")


def user_presets_dir() -> Path:
    return config_dir() / "presets"


def shipped_presets_dir() -> Path:
    import presets

    return Path(presets.__file__).resolve().parent


def package_file(name: str) -> Path:
    """A file inside the launcher package that is run as a script by the training interpreter."""
    return Path(__file__).resolve().parent / name
