"""A dataset check's report as text lines: what `frcnn-tui data check` prints and the Plan screen's Dataset
panel shows, so both say the same thing in the same words."""

from __future__ import annotations

from typing import Any

__all__ = ["report_lines"]


def _spread(values: list[float] | None) -> str:
    return " / ".join(f"{v:g}" for v in values) if values else "–"


def report_lines(report: Any) -> list[str]:
    """REPORT (a coco_check.DataReport): the splits, the classes in label order, every problem with its fix."""
    data = report.to_dict()
    lines = [f"dataset: {data['layout']} layout in {data['root']}"]
    for name, split in data["splits"].items():
        size = split["image_size"]
        boxes = split["box_sizes"]
        lines += [f"  {name:<5} {split['images']} images, {split['annotations']} annotations, "
                  f"{split['annotated_images']} annotated images   {split['ann_file']}",
                  f"        image width {_spread(size['width'])}, height {_spread(size['height'])} "
                  f"(min / median / max); boxes small {boxes['small']:.0%}, medium {boxes['medium']:.0%}, "
                  f"large {boxes['large']:.0%}"]
    lines.append(f"classes ({data['num_classes']}, in mmdet's label order):")
    for cat in data["categories"]:
        lines.append(f"  {cat['label']:>3}  id {cat['id']:<4} {cat['name']:<24} train {cat['train_instances']:>6}  "
                     f"val {cat['val_instances']:>6}")
    if report.problems:
        lines.append("problems:")
    for problem in report.problems:
        lines += [f"  {problem.level.upper():<4}  {problem.line()}", f"        fix: {problem.fix}"]
    lines.append(f"status: {report.status}")
    return lines
