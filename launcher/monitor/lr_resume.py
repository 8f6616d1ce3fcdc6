"""After a resume, the first logged lr must be the schedule's lr at that iteration.

Resumed schedulers have been known to restart their warmup or lose a milestone: the run
goes on, quietly at the wrong lr. Each resume adds a <timestamp>/ folder to the work dir;
the first training line of every folder but the first is checked against the schedule the
plan recorded (plan.json "resolved": the lr, the iteration-based linear warmup and the
epoch milestones of MMEngine's LinearLR + MultiStepLR, or its CosineAnnealingLR), and an
``lr-after-resume`` alert says when they differ.

MMEngine sets iteration i's lr (0-based) before the iteration and logs it as step i+1:
lr = base x (s + (1 - s) x min(i, W - 1) / (W - 1)) x gamma^(milestones <= epoch - 1), for
warmup length W and start factor s (MMEngine's LinearLR spans end - begin - 1 steps: the full
lr from iteration W - 1). A point inside the warmup is only judged when the start factor
is known; the decay factor defaults to MultiStepLR's 0.1. A cosine set once an epoch replaces
the milestones' factor with r + (1 - r) x (1 + cos(pi x (epoch - 1 - begin) / T)) / 2 (floor
ratio r). A cosine stepped each iteration (by_epoch=False) uses the iteration for the epoch, with
its own begin and T_max; one converted from epochs (convert_to_iter_based) multiplies them by
the epoch's length, which the folder's text log gives (`Epoch(train) [e][i/length]`).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

from launcher import run_files

__all__ = ["lr_after_resume_alerts", "expected_lr"]

TIMESTAMP_DIR = re.compile(r"^\d{8}_\d{6}$")
_EPOCH_PROGRESS = re.compile(rb"Epoch\(train\)\s*\[\d+\]\[\s*\d+/(\d+)\]")
REL_TOL = 1e-3
_HEAD_BYTES = 64 << 10
# (run dir, folder) -> alert or None, once that folder's first training line has been seen.
_checked: dict[tuple[str, str], dict | None] = {}


def expected_lr(resolved: dict, step: int, epoch: int | None,
                epoch_length: int | None = None) -> list[float] | None:
    """The schedule's lr for the line logged at STEP (1-based), as candidates (the iteration
    before and at STEP, since a logger may read the lr on either side of the scheduler's
    step). EPOCH_LENGTH (iterations an epoch) places a cosine converted to iterations.
    None when the plan (or the log) does not say enough to tell."""
    base = resolved.get("lr")
    if not isinstance(base, (int, float)) or base <= 0:
        return None
    warmup = resolved.get("warmup_iters") or 0
    start = resolved.get("warmup_start_factor")
    cosine = resolved.get("lr_cosine")
    if not cosine:
        gamma = resolved.get("lr_gamma") or 0.1
        decay = gamma ** sum(1 for m in resolved.get("milestones") or [] if epoch is not None and m <= epoch - 1)
    out = []
    for i in (step - 1, step):
        if warmup and i < warmup:
            if not isinstance(start, (int, float)):
                return None
            factor = start + (1 - start) * i / (warmup - 1) if warmup > 1 else 1.0
        else:
            factor = 1.0
        if cosine:
            position = _cosine_position(cosine, i, epoch, epoch_length)
            if position is None:
                return None
            decay = _cosine_at(cosine, base, *position)
        out.append(base * factor * decay)
    return out


def _cosine_position(cosine: dict, i: int, epoch: int | None, epoch_length: int | None) -> tuple[int, int] | None:
    """(steps since its begin, T_max) of a cosine at iteration I (0-based): in epochs when it is
    set once an epoch; in iterations when stepped each iteration, as written (by_epoch=False) or
    times the epoch's length as MMEngine's convert_to_iter_based does. None when unknown."""
    begin, t_max = cosine.get("begin") or 0, cosine.get("T_max")
    if not isinstance(t_max, int) or t_max <= 0 or not isinstance(begin, int):
        return None
    if not cosine.get("by_epoch", True):
        return i - begin, t_max
    if cosine.get("iter_based"):
        if not isinstance(epoch_length, int) or epoch_length <= 0:
            return None
        return i - int(begin * epoch_length), t_max * epoch_length
    return (epoch - 1 - begin, t_max) if epoch is not None else None


def _cosine_at(cosine: dict, base: float, t: int, t_max: int) -> float:
    """The cosine's factor T steps after its begin (held at its floor past T_max)."""
    ratio = cosine.get("eta_min_ratio")
    if not isinstance(ratio, (int, float)):
        floor = cosine.get("eta_min")
        ratio = floor / base if isinstance(floor, (int, float)) else 0.0
    t = min(max(t, 0), t_max)
    return ratio + (1 - ratio) * (1 + math.cos(math.pi * t / t_max)) / 2


def _epoch_length(folder: Path) -> int | None:
    """Iterations an epoch, from the folder's text log (`Epoch(train)  [3][ 50/7330]`)."""
    try:
        with open(folder / f"{folder.name}.log", "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return None
    m = _EPOCH_PROGRESS.search(head)
    return int(m.group(1)) if m else None


def _first_train_record(scalars: Path) -> dict | None:
    try:
        with open(scalars, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return None
    for raw in head.split(b"\n")[:-1]:  # complete lines only
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(rec, dict) and "lr" in rec and isinstance(rec.get("step", rec.get("iter")), int):
            return rec
    return None


def _judge(resolved: dict, rec: dict, folder: str, epoch_length: int | None) -> dict | None:
    step = rec.get("step", rec.get("iter"))
    epoch = rec.get("epoch") if isinstance(rec.get("epoch"), int) else None
    lr = rec["lr"]
    candidates = expected_lr(resolved, step, epoch, epoch_length)
    if candidates is None or not isinstance(lr, (int, float)):
        return None
    if any(math.isclose(lr, c, rel_tol=REL_TOL) for c in candidates):
        return None
    return {"kind": "lr-after-resume", "step": step,
            "message": (f"after the resume in {folder}, the first logged lr is {lr:.6g} at step {step}"
                        + (f" (epoch {epoch})" if epoch is not None else "")
                        + f"; the schedule says {candidates[-1]:.6g}: the resumed scheduler may have restarted "
                          f"its warmup or lost a milestone")}


def lr_after_resume_alerts(run_dir: str | os.PathLike) -> list[dict]:
    """One alert per resume whose first logged lr is not the schedule's (see module doc)."""
    run_dir = Path(run_dir)
    try:
        folders = sorted(e.name for e in os.scandir(run_dir) if e.is_dir() and TIMESTAMP_DIR.match(e.name))
    except OSError:
        return []
    alerts, resolved = [], None
    for folder in folders[1:]:
        key = (str(run_dir), folder)
        if key not in _checked:
            rec = _first_train_record(run_dir / folder / "vis_data" / "scalars.json")
            if rec is None:
                continue  # not logged yet
            if resolved is None:
                plan = run_files.read_plan(run_dir)
                if not plan:
                    return []  # not a frcnn-tui run dir: no recorded schedule to compare with
                resolved = plan.get("resolved") or {}
            epoch_length = None
            if (resolved.get("lr_cosine") or {}).get("iter_based"):
                epoch_length = _epoch_length(run_dir / folder)
                if epoch_length is None:
                    continue  # its text log has no progress line yet: judged at a later poll
            _checked[key] = _judge(resolved, rec, folder, epoch_length)
        if _checked[key]:
            alerts.append(_checked[key])
    return alerts
