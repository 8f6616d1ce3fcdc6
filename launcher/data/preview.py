"""A dataset split's ground-truth boxes drawn onto a PNG grid, for `frcnn-tui data preview` and the Plan
screen's Dataset panel.

The drawing runs in the training interpreter (launcher/stack/data_preview.py, OpenCV): frcnn-tui itself
never imports cv2 or numpy. The input is checked here first, so a folder or file that is not a dataset is
one UserError line, not a failure half-way through the drawing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.data.layout import DataLayout, Split
from launcher.errors import UserError

__all__ = ["prepare", "draw", "MAX_IMAGES"]

MAX_IMAGES = 400


def prepare(layout: DataLayout, split: str, n: int) -> Split:
    """LAYOUT's SPLIT, checked to be drawable, before anything is written; UserError (one line) otherwise."""
    from launcher.data.coco_check import load

    if not 1 <= n <= MAX_IMAGES:
        raise UserError(f"--n must be between 1 and {MAX_IMAGES}, got {n}")
    chosen = layout.splits()[split]
    load(chosen.ann_file, split)  # a file that is not COCO is one line here, not a failure in the drawing
    if not chosen.img_dir.is_dir():
        raise UserError(f"the {split} image folder {chosen.img_dir} is missing")
    return chosen


def draw(chosen: Split, split: str, n: int, out_dir: Path, python: str | None = None) -> dict[str, Any]:
    """Draw N images of CHOSEN (from prepare) into OUT_DIR/data-preview-SPLIT.png (OUT_DIR exists, writable).
    Returns {png, images, boxes, split, ann_file}; UserError (one line) when the drawing fails."""
    from launcher.stack import training_env

    interpreter = training_env.training_python(python)
    png = out_dir / f"data-preview-{split}.png"
    drawn = training_env.run_script(interpreter, "stack/data_preview.py",
                                    ["--ann", str(chosen.ann_file), "--img-dir", str(chosen.img_dir), "--out", str(png),
                                     "--n", str(n)], what="draw the preview", timeout=300)
    if drawn.get("error"):
        raise UserError(f"could not draw the preview: {drawn['error']}")
    return dict(drawn, split=split, ann_file=str(chosen.ann_file))
