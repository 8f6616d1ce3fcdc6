"""One row per job for `jobs` and the TUI's jobs screen, and `logs`."""

from __future__ import annotations

import sys
import time
from typing import Any

from launcher.jobs import registry
from launcher.jobs.registry import JobRecord


def _metrics_snapshot(record: JobRecord) -> dict[str, Any] | None:
    from launcher.monitor.metrics import snapshot_of_work_dir

    try:
        # One skimmed poll: progress and best mAP stay exact, and a long history costs no more.
        return snapshot_of_work_dir(record.run_path, max_epochs=record.max_epochs, reference_ap=record.reference_ap,
                                    max_bytes=1 << 20)
    except OSError:
        return None


def summarize(record: JobRecord) -> dict[str, Any]:
    status = registry.status(record)
    row: dict[str, Any] = {
        "id": record.id, "name": record.name, "preset": record.preset, "status": status,
        "devices": f"cpu×{record.nproc_per_node}" if record.cpu else "gpu " + ",".join(map(str, record.gpu_ids)),
        "nodes": record.nodes, "pid": record.pid, "run_dir": record.run_dir, "started_at": record.started_at,
        "exit_code": registry.exit_code(record), "reference_ap": record.reference_ap, "resumes": record.resumes,
        "progress": None, "best_map": None, "best_epoch": None,
    }
    snap = _metrics_snapshot(record)
    if snap:
        prog = snap.get("progress") or {}
        if prog.get("epoch") is not None:
            row["progress"] = f"epoch {prog.get('epoch')}/{prog.get('max_epochs') or '?'}"
        best = snap.get("best") or {}
        row["best_map"] = best.get("bbox_mAP")
        row["best_epoch"] = best.get("epoch")
    return row


def summarize_all() -> list[dict[str, Any]]:
    return [summarize(r) for r in registry.load_all()]


def print_logs(record: JobRecord, *, follow: bool, stream: str = "stdout") -> int:
    path = record.run_path / f"{stream}.log"
    if not path.exists():
        print(f"frcnn-tui: error: {path} does not exist", file=sys.stderr)
        return 1
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 16)
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                continue
            if not follow or registry.status(record) != registry.RUNNING:
                # One last read: the job may have written its final lines as it ended.
                rest = fh.read()
                sys.stdout.buffer.write(rest)
                sys.stdout.flush()
                return 0
            time.sleep(0.5)
