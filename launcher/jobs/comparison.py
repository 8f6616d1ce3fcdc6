"""Runs side by side (``frcnn-tui compare`` and the Compare screen): mAP per epoch, final
AP, lr and total batch of each, as in the article's own experiment (one preset on 8, 4
and 2 GPUs)."""

from __future__ import annotations

from typing import Any

from launcher.jobs import registry
from launcher.jobs.registry import JobRecord
from launcher.references.mmengine_workdir import read_plan
from launcher.references.model import finite


def _devices(record: JobRecord) -> str:
    return f"cpu×{record.nproc_per_node}" if record.cpu else "gpu " + ",".join(map(str, record.gpu_ids))


def run_row(record: JobRecord) -> dict[str, Any]:
    from launcher.monitor.metrics import snapshot_of_work_dir

    snap = snapshot_of_work_dir(record.run_path, max_epochs=record.max_epochs, reference_ap=record.reference_ap)
    plan = read_plan(record.run_path)
    maps = [m for m in snap.get("map_by_epoch") or [] if finite(m.get("bbox_mAP"))]
    lr, batch = plan.get("lr"), plan.get("total_batch")
    return {
        "id": record.id, "name": record.name, "preset": record.preset, "status": registry.status(record),
        "devices": _devices(record), "world_size": plan.get("world_size"), "imgs_per_gpu": plan.get("imgs_per_gpu"),
        "total_batch": batch, "lr": lr, "lr_per_image": lr / batch if lr and batch else None,
        "formula": plan.get("formula"), "seed": plan.get("seed"),
        "map_by_epoch": [{"epoch": m["epoch"], "bbox_mAP": m["bbox_mAP"]} for m in maps],
        "final": maps[-1] if maps else None, "best": snap.get("best"),
        "reference_ap": record.reference_ap,
    }


def compare_runs(records: list[JobRecord]) -> dict[str, Any]:
    """{"runs": [...], "epochs": [every evaluated epoch of any run]}; a run that cannot be
    read keeps its place with an ``error``."""
    runs = []
    for record in records:
        try:
            runs.append(run_row(record))
        except Exception as exc:  # one unreadable run dir must not hide the others
            runs.append({"id": record.id, "name": record.name, "preset": record.preset,
                         "devices": _devices(record), "map_by_epoch": [], "final": None,
                         "error": f"{type(exc).__name__}: {exc}"})
    epochs = sorted({m["epoch"] for r in runs for m in r["map_by_epoch"]})
    return {"runs": runs, "epochs": epochs}


def map_at(run: dict[str, Any], epoch: int) -> float | None:
    return next((m["bbox_mAP"] for m in run.get("map_by_epoch") or [] if m["epoch"] == epoch), None)
