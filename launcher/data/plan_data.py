"""A user's own dataset in a plan: the layout and check from the request, what the resolved config
is given (env_inspect.py's --dataset), and the checklist's `dataset` item, schedule included."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from launcher.data.coco_check import DataReport, Problem, check
from launcher.data.layout import from_options
from launcher.planning.checklist import FAIL, PASS, WARN, Check
from launcher.planning.presets import Preset
from launcher.planning.request import PlanRequest

__all__ = ["PlanData", "from_request", "check_dataset", "check_load_from", "checkpoint_path", "schedule_problems",
           "SHORT_SCHEDULE"]

SHORT_SCHEDULE = 500  # iterations: below this a detector trained on a new set rarely converges


@dataclass
class PlanData:
    report: DataReport

    @property
    def root(self) -> str:
        return str(self.report.layout.root)

    def inspect_args(self) -> list[str]:
        spec = {"root": self.root, "classes": self.report.names,
                **{name: {"ann_file": str(s.ann_file), "img_dir": str(s.img_dir)}
                   for name, s in self.report.layout.splits().items()}}
        return ["--dataset", json.dumps(spec)]

    def preset(self, preset: Preset) -> Preset:
        """PRESET with this data's root and files, so the eval and data checks judge the files that run."""
        layout = self.report.layout
        return replace(preset, dataset="custom", data_root=self.root, train_ann_file=str(layout.train.ann_file),
                       val_ann_file=str(layout.val.ann_file))


def from_request(req: PlanRequest, preset: Preset) -> PlanData | None:
    """The checked dataset the request names (--data or the four paths), else the preset's own `data`
    folder (a preset saved by `data check --save-preset`; --data-root puts it aside), else None."""
    if req.data_root and (req.data or req.train_ann):
        from launcher.errors import UserError

        raise UserError("use --data (your own dataset) or --data-root (COCO's layout), not both")
    layout = from_options(req.data, req.train_ann, req.train_images, req.val_ann, req.val_images)
    if layout is None and preset.data and not req.data_root:
        layout = from_options(preset.data)
    return PlanData(check(layout)) if layout is not None else None


def schedule_problems(report: DataReport, summary: dict[str, Any], total_batch: int) -> list[Problem]:
    """A warmup longer than an epoch, or a whole schedule under SHORT_SCHEDULE iterations, for this
    many training images at this total batch (MMEngine's LinearLR warmup counts iterations)."""
    images = report.splits["train"].trainable_images * ((summary.get("train") or {}).get("repeat") or 1)
    if not images or total_batch < 1:
        return []
    per_epoch = math.ceil(images / total_batch)
    warmup, epochs = summary.get("warmup_iters"), summary.get("max_epochs")
    where = f"{images} training images at batch {total_batch}: {per_epoch} iterations an epoch"
    problems = []
    if warmup and warmup > per_epoch:
        problems.append(Problem(WARN, f"warmup {warmup} iterations is {warmup / per_epoch:.1f} epochs ({where})", 1,
                                f"shorten it to one epoch or less: --cfg-options param_scheduler.0.end={per_epoch}"))
    if epochs and epochs * per_epoch < SHORT_SCHEDULE:
        need = math.ceil(SHORT_SCHEDULE / per_epoch)
        problems.append(Problem(WARN, f"the schedule is {epochs * per_epoch} iterations ({epochs} epochs; {where}), "
                                f"under ~{SHORT_SCHEDULE}", 1,
                                f"train about {need} epochs (--cfg-options train_cfg.max_epochs={need}) or a smaller "
                                f"batch"))
    return problems


def checkpoint_path(path: str) -> str:
    """--load-from FILE, absolute; a file that is not there is bad input (one line, exit 2)."""
    from pathlib import Path

    from launcher.errors import UserError

    file = Path(path).expanduser().absolute()
    if not file.is_file():
        raise UserError(f"--load-from {path}: no such file")
    return str(file)


def check_load_from(summary: dict[str, Any]) -> Check:
    """--load-from: the checkpoint's box head against the classes that train now. MMEngine loads a
    checkpoint with strict=False, so layers whose shape differs (the classifier and box regressor,
    sized by num_classes) are skipped with a warning and start from their initialisation."""
    head = summary.get("load_from") or {}
    classes = summary.get("num_classes")
    path = head.get("path")
    if head.get("unreadable"):
        # An MMEngine training checkpoint (optimizer and message hub inside) is one: torch >= 2.6 loads
        # weights only by default, in MMEngine's load_checkpoint too, so every rank would stop at start.
        return Check("load-from", FAIL, f"{path}: {head['problem']}; MMEngine would fail to load it the same way",
                     f"keep its weights only (for a file you trust): python -c \"import torch; c = torch.load('{path}', "
                     f"weights_only=False); torch.save({{'state_dict': c['state_dict']}}, '{path}.weights.pth')\"")
    if head.get("problem"):
        return Check("load-from", WARN, f"{path}: {head['problem']}", "check the path")
    theirs = head.get("num_classes")
    if theirs is None:
        return Check("load-from", WARN, f"{path}: no Faster R-CNN box head found (no bbox_head.fc_cls): only the "
                     f"layers whose names and shapes match are loaded", "check that it is a Faster R-CNN checkpoint")
    if theirs == classes:
        return Check("load-from", PASS, f"fine-tuning from {path}: its box head has the same {classes} classes, "
                     f"the whole model is loaded")
    return Check("load-from", PASS, f"fine-tuning from {path} ({theirs} classes): the box head's classifier and "
                 f"box regressor start fresh for {classes} classes, every other layer is loaded")


def check_dataset(data: PlanData, summary: dict[str, Any], total_batch: int) -> Check:
    """The checklist's `dataset` item: the data check's problems, and the schedule for this data."""
    report = data.report
    # The schedule's warnings first: the data's own are in `frcnn-tui data check` too.
    problems = schedule_problems(report, summary, total_batch) + report.problems
    train = report.splits["train"]
    what = (f"{report.layout.kind} layout: {len(report.classes)} classes ({', '.join(report.names[:6])}"
            f"{', ...' if len(report.classes) > 6 else ''}), {train.trainable_images} training images")
    worst = next((p for p in problems if p.level == FAIL), None) or next((p for p in problems if p.level == WARN), None)
    if worst is None:
        return Check("dataset", PASS, what)
    more = f" (+{len(problems) - 1} more: frcnn-tui data check {report.layout.root})" if len(problems) > 1 else ""
    return Check("dataset", worst.level, f"{what}; {worst.line()}{more}", worst.fix)
