"""The normalised reference run every parser produces, and the helpers they share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from launcher.monitor.values import finite

MAP_KEYS = ("bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l")
ENV_KEYS = ("torch", "cuda", "opencv", "mmcv", "mmdet", "mmengine", "gpus", "gpu_name")
TRAIN_KEYS = ("lr", "imgs_per_gpu", "world_size", "total_batch", "max_epochs", "milestones", "seed",
              "iters_per_epoch")
# A loss curve is kept at this many points at most: enough to overlay on a terminal
# chart or a PNG, small enough that a stored reference stays a few kB.
LOSS_POINTS = 240


@dataclass
class Reference:
    name: str
    source: str
    format: str  # mmengine-workdir | frcnn-job | mmdet2-json | mmdet2-text | mmdet3-text
    preset: str | None = None
    env: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(ENV_KEYS))
    train: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(TRAIN_KEYS))
    map_by_epoch: list[dict[str, Any]] = field(default_factory=list)
    # [[fraction of the schedule (0..1], mean loss in that bin], ...]: iterations differ
    # with the total batch, the fraction of the schedule does not.
    loss_curve: list[list[float]] = field(default_factory=list)
    wall_time_s: float | None = None
    added_at: float | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every key present (None when the source does not say), so consumers need no .get chains.
        self.env = {**dict.fromkeys(ENV_KEYS), **(self.env or {})}
        self.train = {**dict.fromkeys(TRAIN_KEYS), **(self.train or {})}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def map_at(self, epoch: int, key: str = "bbox_mAP") -> float | None:
        for row in self.map_by_epoch:
            if row.get("epoch") == epoch:
                value = row.get(key)
                return value if isinstance(value, (int, float)) else None
        return None

    @property
    def final(self) -> dict[str, Any] | None:
        rows = [r for r in self.map_by_epoch if isinstance(r.get("bbox_mAP"), (int, float))]
        return rows[-1] if rows else None

    @property
    def lr_per_image(self) -> float | None:
        lr, batch = self.train.get("lr"), self.train.get("total_batch")
        return lr / batch if lr and batch else None


def map_row(epoch: int, values: dict[str, Any]) -> dict[str, Any] | None:
    """One map_by_epoch row from metric values keyed with or without an evaluator prefix
    ("coco/bbox_mAP" or "bbox_mAP"); -1 (a size bucket without objects) becomes None."""
    row: dict[str, Any] = {"epoch": epoch}
    for key, value in values.items():
        name = key.split("/", 1)[-1]
        if name in MAP_KEYS:
            row[name] = value if finite(value) and value != -1 else None
    return row if row.get("bbox_mAP") is not None or any(k in row for k in MAP_KEYS) else None


def merge_maps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per epoch (the last one logged wins: a resume re-evaluates), in epoch order."""
    by_epoch = {r["epoch"]: r for r in rows}
    return [by_epoch[e] for e in sorted(by_epoch)]


def loss_curve(points: list[tuple[int, float]], total_iters: int | None) -> list[list[float]]:
    """(global iteration, loss) -> at most LOSS_POINTS [fraction, mean loss] bins."""
    pts = [(it, v) for it, v in points if finite(v)]
    if not pts:
        return []
    total = total_iters or max(it for it, _ in pts)
    if not total:
        return []
    bins: dict[int, list[float]] = {}
    for it, v in pts:
        frac = min(1.0, max(0.0, it / total))
        bins.setdefault(min(LOSS_POINTS - 1, int(frac * LOSS_POINTS)), []).append((frac, v))
    out = []
    for b in sorted(bins):
        fr = [f for f, _ in bins[b]]
        vs = [v for _, v in bins[b]]
        out.append([round(sum(fr) / len(fr), 5), round(sum(vs) / len(vs), 5)])
    return out


def loss_at(curve: list[list[float]], fraction: float) -> float | None:
    """The reference loss at a fraction of the schedule (linear between bins)."""
    if not curve:
        return None
    if fraction <= curve[0][0]:
        return curve[0][1]
    for (f0, v0), (f1, v1) in zip(curve, curve[1:]):
        if f0 <= fraction <= f1:
            return v0 if f1 == f0 else v0 + (v1 - v0) * (fraction - f0) / (f1 - f0)
    return curve[-1][1]


def complete_train(train: dict[str, Any]) -> dict[str, Any]:
    """Total batch = world size x images per GPU, when both are known."""
    out = {**dict.fromkeys(TRAIN_KEYS), **train}
    if out.get("total_batch") is None and out.get("world_size") and out.get("imgs_per_gpu"):
        out["total_batch"] = out["world_size"] * out["imgs_per_gpu"]
    return out
