"""Writing a job's attempt marks (launcher.monitor.attempt_marks says what they are and why):
before a stop's signals and before a resumed attempt starts, into both of its logs.

The stop's mark names the epoch the run got to, read from its logs by the metrics; so this sits
above them, apart from the marks' format, which the metrics read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from launcher.monitor import attempt_marks
from launcher.monitor.run_follower import snapshot_of_work_dir
from launcher import run_files

__all__ = ["note_stop", "note_resume"]


def _append(run_dir: Path, line: str) -> None:
    for name in attempt_marks.STREAMS:
        path = Path(run_dir) / name
        try:
            with open(path, "ab") as fh:
                # A line the job left without its newline must not swallow the mark.
                fh.write((b"" if fh.tell() == 0 or _ends_with_newline(path) else b"\n") + line.encode() + b"\n")
        except OSError:
            pass  # a mark is a nicety: without it the old errors stay shown, nothing breaks


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _progress_epoch(run_dir: Path) -> int | None:
    try:  # one skimmed poll: the epoch is exact, a long history costs little
        epoch = (snapshot_of_work_dir(run_dir, max_bytes=1 << 20).get("progress") or {}).get("epoch")
    except OSError:
        return None
    return epoch if isinstance(epoch, int) else None


def _checkpoint_epoch(run_dir: Path) -> int | None:
    try:
        m = re.search(r"epoch_(\d+)\.pth", (Path(run_dir) / run_files.LAST_CHECKPOINT).read_text())
    except OSError:
        return None
    return int(m.group(1)) if m else None


def note_stop(run_dir: Path) -> None:
    """Before the job is signalled: what follows in its logs is the stop the user asked for."""
    epoch = _progress_epoch(run_dir)
    _append(run_dir, f"frcnn-tui: stopped by you{f' at epoch {epoch}' if epoch else ''} ({attempt_marks.stamp()})")


def note_resume(run_dir: Path, attempt: int) -> None:
    """Before the resumed attempt starts: the errors before this line are an earlier attempt's."""
    epoch = _checkpoint_epoch(run_dir)
    since = f" from the epoch {epoch} checkpoint" if epoch else ""
    _append(run_dir, f"frcnn-tui: resumed{since} (attempt {attempt}, {attempt_marks.stamp()})")
