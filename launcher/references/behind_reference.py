"""Is a run keeping up with its reference? The noise threshold, the per-epoch comparison,
the ``behind-reference`` alert and the likely causes it names.

Units are those of ``bbox_mAP`` (fractions: 0.374 = 37.4 AP).

The noise threshold (how far two healthy runs of one recipe drift apart at an epoch):

- with two or more stored references of the same preset, the largest spread (max - min)
  between them at any epoch they share, but never below ``MIN_NOISE``: identical
  references (the same run added twice, or a bit-exact deterministic rerun) would
  otherwise make every 0.001 a failure;
- with one, ``DEFAULT_NOISE`` = 0.008: three independent R50-FPN 1x COCO runs differed by
  at most 0.008 mAP at any epoch (mmdet 2.25, 4 GPUs x 2 images;
  /work/shared/reference/mmdet-log-formats.md, "What a run-to-run spread looks like").
"""

from __future__ import annotations

from typing import Any

from launcher.monitor.values import finite
from launcher.references.model import Reference

DEFAULT_NOISE = 0.008
MIN_NOISE = 0.002
# Two evaluations in a row behind by more than the noise: one bad epoch is noise itself
# (the lr steps and evaluation order move single epochs), two is a trend.
BEHIND_IN_A_ROW = 2
KIND = "behind-reference"


def noise_threshold(ref: Reference, peers: list[Reference]) -> tuple[float, str]:
    """(threshold, how it was derived); PEERS are all stored references (REF may be among them)."""
    same = [p for p in peers if ref.preset and p.preset == ref.preset]
    if not any(p.name == ref.name for p in same) and ref.preset:
        same.append(ref)
    if len(same) >= 2:
        spread = 0.0
        epochs = set.intersection(*({r["epoch"] for r in p.map_by_epoch if finite(r.get("bbox_mAP"))} for p in same))
        for epoch in epochs:
            values = [p.map_at(epoch) for p in same]
            spread = max(spread, max(values) - min(values))
        if epochs:
            value = max(MIN_NOISE, round(spread, 4))
            return value, (f"largest spread at any epoch between the {len(same)} references of preset "
                           f"{ref.preset} ({spread:.4f} over {len(epochs)} epoch(s), floor {MIN_NOISE})")
    return DEFAULT_NOISE, (f"default {DEFAULT_NOISE}: three independent R50-FPN 1x runs differed by at most "
                           f"{DEFAULT_NOISE} mAP at any epoch (add more references of one preset to derive it)")


def _run_maps(map_by_epoch: list[dict]) -> list[tuple[int, float]]:
    return [(r["epoch"], r["bbox_mAP"]) for r in map_by_epoch if finite(r.get("bbox_mAP"))]


def comparison(map_by_epoch: list[dict], ref: Reference, noise: float) -> dict[str, Any] | None:
    """The ``reference`` object of a snapshot: the latest evaluated epoch, this run's mAP,
    the reference's at that epoch and the difference (None where the reference has none)."""
    runs = _run_maps(map_by_epoch)
    if not runs:
        return {"name": ref.name, "epoch": None, "run": None, "reference": None, "delta": None,
                "noise": noise, "behind": False}
    epoch, value = runs[-1]
    at = ref.map_at(epoch)
    delta = round(value - at, 4) if at is not None else None
    return {"name": ref.name, "epoch": epoch, "run": value, "reference": at, "delta": delta, "noise": noise,
            "behind": delta is not None and delta < -noise}


def behind_streak(map_by_epoch: list[dict], ref: Reference, noise: float) -> list[tuple[int, float, float]]:
    """The first BEHIND_IN_A_ROW consecutive evaluations (among those the reference has too)
    where the run trails by more than NOISE, as (epoch, run, reference); [] if none."""
    streak: list[tuple[int, float, float]] = []
    for epoch, value in _run_maps(map_by_epoch):
        at = ref.map_at(epoch)
        if at is None:
            continue
        if value - at < -noise:
            streak.append((epoch, value, at))
            if len(streak) == BEHIND_IN_A_ROW:
                return streak
        else:
            streak = []
    return []


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def _major_minor(version: str | None) -> str | None:
    if not version:
        return None
    return ".".join(str(version).split("+")[0].split(".")[:2])


def likely_causes(run: dict[str, Any], ref: Reference) -> list[str]:
    """What differs between the run and the reference, most likely first. RUN is
    ``{"train": {...}, "env": {...}}`` in the Reference's keys (a plan or a parsed work dir)."""
    causes = []
    t, rt = run.get("train") or {}, ref.train
    lr, batch, ref_lr, ref_batch = t.get("lr"), t.get("total_batch"), rt.get("lr"), rt.get("total_batch")
    if lr and batch and ref_lr and ref_batch:
        mine, theirs = lr / batch, ref_lr / ref_batch
        if abs(_ratio(mine, theirs) - 1) > 0.01:
            causes.append(f"lr per image {mine:.3g} (lr {lr:g} / batch {batch}) vs the reference's {theirs:.3g} "
                          f"(lr {ref_lr:g} / batch {ref_batch}): {_ratio(mine, theirs):.2g}x; the linear rule "
                          f"would give lr {theirs * batch:.3g}")
    if batch and ref_batch and batch != ref_batch:
        causes.append(f"total batch {batch} vs the reference's {ref_batch}: the iterations per epoch and the "
                      f"warmup's share of the schedule differ")
    env, renv = run.get("env") or {}, ref.env
    for key, label, why in (("opencv", "OpenCV", "image resize and JPEG decode differ slightly"),
                            ("torch", "PyTorch", "kernels and numerics differ slightly")):
        a, b = _major_minor(env.get(key)), _major_minor(renv.get(key))
        if a and b and a != b:
            causes.append(f"{label} {env.get(key)} vs the reference's {renv.get(key)} ({why})")
    if t.get("seed") is None:
        causes.append("no seed: every run draws its own, so runs differ by a few 0.1 AP (--seed 0)")
    return causes


def behind_alert(map_by_epoch: list[dict], ref: Reference, noise: float,
                 run_facts: Any = None) -> dict[str, Any] | None:
    """The ``behind-reference`` alert, or None. RUN_FACTS: the run's {"train", "env"}, or a
    callable returning it (only called when the alert fires: reading it costs a parse)."""
    streak = behind_streak(map_by_epoch, ref, noise)
    if not streak:
        return None
    facts = run_facts() if callable(run_facts) else run_facts
    causes = likely_causes(facts or {}, ref)
    epochs = ", ".join(str(e) for e, _, _ in streak)
    epoch, value, at = streak[-1]
    message = (f"mAP {value:.3f} vs reference {ref.name} {at:.3f} ({value - at:+.3f}) at epoch {epoch}: behind by "
               f"more than the noise ({noise:g}) at epochs {epochs}. Likely causes: "
               + ("; ".join(causes) if causes else "none in the plan (lr per image, total batch, OpenCV, torch "
                                                   "and seed match): check the data and the evaluation"))
    return {"kind": KIND, "step": epoch, "epoch": epoch, "message": message, "causes": causes,
            "reference": ref.name}
