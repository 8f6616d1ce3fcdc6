"""Per-class AP: what CocoMetric(classwise=True) adds to each evaluation.

mmdet 3.3's CocoMetric writes `<class name>_precision` (AP at IoU 0.50:0.95, all areas, as a
fraction; NaN for a class without val boxes) beside bbox_mAP, which reach MMEngine's scalars
as `coco/<class name>_precision`; a run's map_by_epoch rows carry them without the prefix.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SUFFIX", "latest", "moves"]

SUFFIX = "_precision"


def _classes(row: dict[str, Any]) -> dict[str, float | None]:
    return {key[: -len(SUFFIX)]: value for key, value in row.items() if key.endswith(SUFFIX)}


def _rows(map_by_epoch: list[dict[str, Any]]) -> list[tuple[int, dict[str, float | None]]]:
    return [(row["epoch"], found) for row in map_by_epoch if (found := _classes(row))]


def latest(map_by_epoch: list[dict[str, Any]]) -> dict[str, float | None]:
    """{class: AP} at the latest evaluation that has per-class AP ({} when none has); None: no val boxes."""
    rows = _rows(map_by_epoch)
    return rows[-1][1] if rows else {}


def moves(map_by_epoch: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest per-class AP, weakest first (classes without val boxes last), each with its change
    since the evaluation before: {epoch, previous_epoch, classes: [{name, ap, change}]}; None without any."""
    rows = _rows(map_by_epoch)
    if not rows:
        return None
    epoch, now = rows[-1]
    before_epoch, before = rows[-2] if len(rows) > 1 else (None, {})
    ordered = sorted(now.items(), key=lambda item: (item[1] is None, item[1] if item[1] is not None else 0, item[0]))
    classes = [{"name": name, "ap": ap, "change": (ap - before[name]) if ap is not None
                and before.get(name) is not None else None} for name, ap in ordered]
    return {"epoch": epoch, "previous_epoch": before_epoch, "classes": classes}
