"""SOURCE -> Reference: which parser reads what.

A SOURCE is a frcnn-tui job (id, name or id prefix), a directory (an MMEngine work
dir, a frcnn-tui run dir, or an MMDetection 2.x work dir holding ``*.log.json`` /
``*.log``), or one log file (``*.log.json``, or a 2.x/3.x ``*.log``).
"""

from __future__ import annotations

from pathlib import Path

from launcher import paths
from launcher.errors import UserError
from launcher.references.mmdet2_dir import read_legacy_dir
from launcher.references.mmdet2_json import parse_json_log
from launcher.references.mmengine_workdir import parse_job_dir, parse_work_dir, timestamp_dirs
from launcher.references.model import Reference
from launcher.references.text_log import parse_text_log
from launcher import run_files


def read_path(path: Path, name: str) -> Reference:
    if path.is_file():
        if path.name.endswith(".json"):
            return parse_json_log(path, name)
        return parse_text_log(path, name)
    if run_files.has_plan(path):
        return parse_job_dir(path, name)
    if timestamp_dirs(path):
        return parse_work_dir(path, name)
    return read_legacy_dir(path, name)  # no directory at all is one line there too


def read_source(source: str, name: str) -> Reference:
    path = Path(source).expanduser()
    if paths.exists(path):
        ref = read_path(path.absolute(), name)
    else:
        from launcher.jobs import registry

        try:
            record = registry.find(source)
        except UserError:
            raise UserError(f"{source}: not a file, a directory or a frcnn-tui job") from None
        ref = parse_job_dir(record.run_path, name, preset=record.preset)
        ref.source = f"job {record.id} ({record.run_dir})"
    if not ref.map_by_epoch and not ref.loss_curve:
        raise UserError(f"{source}: found no evaluation and no training line in it")
    return ref
