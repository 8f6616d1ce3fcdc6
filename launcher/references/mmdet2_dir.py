"""An MMDetection 2.x work dir: its ``*.log.json`` and ``*.log`` at the top (no MMEngine
timestamp folders), read into a Reference.

Below both sources.py (which picks the parser for any path) and mmengine_workdir.py (a frcnn-tui
run dir whose older stack under --python wrote a 2.x log), so neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

from launcher.errors import UserError
from launcher.references.mmdet2_json import parse_json_log
from launcher.references.model import Reference
from launcher.references.text_log import parse_text_log
from launcher import run_files

__all__ = ["legacy_logs", "read_legacy_dir"]


def legacy_logs(work_dir: Path) -> tuple[list[Path], list[Path]]:
    """(``*.log.json``, ``*.log``) at the top of an MMDetection 2.x work dir, oldest first."""
    try:
        files = sorted(p for p in work_dir.iterdir() if p.is_file())
    except OSError:
        return [], []
    jsons = [p for p in files if p.name.endswith(".log.json")]
    texts = [p for p in files if p.name.endswith(".log") and p.name not in run_files.LOGS]
    return jsons, texts


def read_legacy_dir(path: Path, name: str) -> Reference:
    """The newest run's log of a 2.x work dir; a path that is no directory or holds no log is one line."""
    if not path.is_dir():
        raise UserError(f"no such file, directory or job: {path}")
    jsons, texts = legacy_logs(path)
    # The JSON log has exact values; the text log is the fallback (and the newest run wins).
    if jsons:
        return parse_json_log(jsons[-1], name)
    if texts:
        return parse_text_log(texts[-1], name)
    raise UserError(f"{path}: no MMEngine timestamp folder, *.log.json or *.log in it")
