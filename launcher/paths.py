"""Where frcnn-tui keeps its state, caches and user presets.

FRCNN_TUI_HOME overrides everything (tests point it at a temp dir); otherwise the
XDG dirs from platformdirs are used.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

import platformdirs

APP = "frcnn-tui"


def _home() -> Path | None:
    value = os.environ.get("FRCNN_TUI_HOME")
    return Path(value).expanduser() if value else None


def write_atomic(path: Path, text: str) -> None:
    """Write TEXT to PATH through a temporary file renamed into place: a reader sees the old file or
    the whole new one, never half (registry records, plan.json, presence files)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def ensure_private_dir(path: Path) -> Path:
    """PATH as a folder only its owner can enter (0700), also when it existed before with
    another mode: the registry and run dirs hold the command lines and paths of the user's jobs."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if stat.S_IMODE(path.stat().st_mode) != 0o700:
            os.chmod(path, 0o700)
    except OSError as exc:
        from launcher.errors import UserError

        raise UserError(f"cannot make {path} a private folder (mode 0700): {exc.strerror or exc}") from None
    return path


def exists(path: Path) -> bool:
    """Whether PATH, typed by the user, exists. Path.exists() raises for a name the system will not
    even look up (too long, say); that is bad input, one UserError line."""
    try:
        return path.exists()
    except OSError as exc:
        from launcher.errors import UserError

        raise UserError(f"{path}: {exc.strerror or exc}") from None


def output_dir(path: Path, what: str) -> Path:
    """PATH (a folder the user named for WHAT) made with its parents, and proven writable by a
    scratch file, before anything is written: an existing file there, a read-only place such as
    /proc or a name too long becomes one UserError line rather than a traceback half-way."""
    import tempfile

    made = [p for p in (path, *path.parents) if not os.path.lexists(p)]  # deepest first
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        from launcher.errors import UserError

        for folder in made:  # a refused output leaves no empty folders behind
            try:
                folder.rmdir()
            except OSError:
                pass
        raise UserError(f"cannot write {what} into {path}: {exc.strerror or exc}") from None
    return path


def state_dir() -> Path:
    home = _home()
    return ensure_private_dir(home / "state" if home else Path(platformdirs.user_state_dir(APP)))


def cache_dir() -> Path:
    home = _home()
    return ensure_private_dir(home / "cache" if home else Path(platformdirs.user_cache_dir(APP)))


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def jobs_dir() -> Path:
    return ensure_private_dir(state_dir() / "jobs")


def runs_dir() -> Path:
    return ensure_private_dir(state_dir() / "runs")


def user_presets_dir() -> Path:
    return config_dir() / "presets"


def shipped_presets_dir() -> Path:
    import presets

    return Path(presets.__file__).resolve().parent


def package_file(name: str) -> Path:
    """A file inside the launcher package that is run as a script by the training interpreter."""
    return Path(__file__).resolve().parent / name
