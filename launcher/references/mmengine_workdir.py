"""An MMEngine (mmdet 3.x) work dir, and a frcnn-tui job's run dir (the same, plus plan.json).

Every start or resume adds ``<YYYYMMDD_HHMMSS>/`` with ``vis_data/scalars.json`` (train
lines: ``loss``, ``step`` = global iteration; validation lines: ``coco/bbox_mAP…`` with
``step`` = epoch) and ``<YYYYMMDD_HHMMSS>.log`` (environment, config, the epoch length in
``Epoch(train) [e][i/N]``). All folders are read in name order; a re-evaluated epoch
keeps its last value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from launcher.references import text_log
from launcher.references.mmdet2_dir import read_legacy_dir
from launcher.references.model import Reference, complete_train, loss_curve, map_row, merge_maps
from launcher import run_files

TIMESTAMP_DIR = re.compile(r"^\d{8}_\d{6}$")


def timestamp_dirs(work_dir: Path) -> list[Path]:
    try:
        return sorted(p for p in work_dir.iterdir() if p.is_dir() and TIMESTAMP_DIR.match(p.name))
    except OSError:
        return []


def _scalars(path: Path) -> tuple[list[dict], list[tuple[int, float]]]:
    maps, losses = [], []
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError:
        return maps, losses
    with fh:
        for line in fh:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if not isinstance(d, dict) or not isinstance(d.get("step"), int):
                continue
            if any("/" in k for k in d):
                row = map_row(d["step"], d)
                if row:
                    maps.append(row)
            elif isinstance(d.get("loss"), (int, float)):
                losses.append((d["step"], d["loss"]))
    return maps, losses


def parse_work_dir(work_dir: Path, name: str, fmt: str = "mmengine-workdir") -> Reference:
    parts, maps, losses = [], [], []
    for ts in timestamp_dirs(work_dir):
        parts.append(text_log.read_text(ts / f"{ts.name}.log"))
        m, l = _scalars(ts / "vis_data" / "scalars.json")
        maps += m
        losses += l
    ref = text_log.to_reference(parts, name, str(work_dir), fmt)
    if maps or losses:
        # scalars.json is exact (the text log rounds to 4 places); it wins where it exists.
        ref.map_by_epoch = merge_maps(ref.map_by_epoch + maps)
        t = ref.train
        total = t["iters_per_epoch"] * t["max_epochs"] if t.get("iters_per_epoch") and t.get("max_epochs") else None
        ref.loss_curve = loss_curve(sorted(dict(losses).items()), total) or ref.loss_curve
    return ref



def what_ran(plan: dict[str, Any]) -> dict[str, Any]:
    """The schedule and seed a frcnn-tui job ran with: the resolved config's (its --cfg-options
    and its own randomness.seed included), the plan's request where the config says nothing."""
    resolved = plan.get("resolved") or {}
    seed = plan.get("seed")
    return {"warmup_iters": resolved.get("warmup_iters", plan.get("warmup_iters")),
            "max_epochs": resolved.get("max_epochs") or plan.get("epochs"),
            "milestones": resolved.get("milestones") or plan.get("milestones"),
            "seed": seed if seed is not None else resolved.get("seed")}

def parse_job_dir(run_dir: Path, name: str, preset: str | None = None) -> Reference:
    """A frcnn-tui run dir: the logs, then what plan.json recorded at launch (exact lr, batch,
    world size, seed and versions, which the logs may only imply)."""
    if timestamp_dirs(run_dir):
        ref = parse_work_dir(run_dir, name, fmt="frcnn-job")
    else:  # a run dir holding an MMDetection 2.x log instead (an older stack under --python)
        ref = read_legacy_dir(run_dir, name)
        ref.format = "frcnn-job"
    plan = run_files.read_plan(run_dir)
    if not plan:
        return ref
    ref.preset = preset or plan.get("preset")
    ran = what_ran(plan)
    train = dict(ref.train)
    for key, value in (("lr", plan.get("lr")), ("imgs_per_gpu", plan.get("imgs_per_gpu")),
                       ("world_size", plan.get("world_size")), ("total_batch", plan.get("total_batch")),
                       ("max_epochs", ran["max_epochs"]), ("milestones", ran["milestones"])):
        if value is not None:
            train[key] = value
    # MMEngine logs the seed it drew even when none was set; only the config's counts.
    train["seed"] = ran["seed"]
    ref.train = complete_train(train)
    versions = plan.get("versions") or {}
    env = dict(ref.env)
    for key, vkey in (("torch", "torch"), ("opencv", "cv2"), ("mmcv", "mmcv"), ("mmdet", "mmdet"),
                      ("mmengine", "mmengine"), ("cuda", "cuda_build")):
        if versions.get(vkey):
            env[key] = versions[vkey]
    if plan.get("cpu"):
        env["gpus"], env["gpu_name"] = 0, f"CPU ({plan.get('world_size')} gloo workers)"
    elif plan.get("gpu_ids"):
        env["gpus"] = len(plan["gpu_ids"]) * (plan.get("nodes") or 1)
    ref.env = env
    return ref
