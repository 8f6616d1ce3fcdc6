"""A Roboflow-style COCO export made from the project's synthetic shapes (tests/training_helpers'
make_tiny_dataset), laid out as Roboflow writes it: train/, valid/, test/ each holding
_annotations.coco.json and its images side by side; a parent category id 0 (the project's name,
supercategory "none") that no annotation uses; real category ids not contiguous and listed out
of id order; file names with spaces and Roboflow's `_jpg.rf.<hash>` suffix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ROBOFLOW_IDS = {1: 7, 2: 3, 3: 12}  # synthetic category id -> the export's id
# The export lists its categories in this order (not by id): mmdet's label order is this one.
ROBOFLOW_ORDER = [0, 12, 3, 7]
SPLITS = {"train": "train", "val": "valid"}


def roboflow_from(shapes: Path, out: Path, *, test: bool = True) -> Path:
    """Re-lay the synthetic COCO set SHAPES out as a Roboflow export in OUT (images copied: a few KB each)."""
    for split, folder in SPLITS.items():
        coco = json.loads((shapes / "annotations" / f"instances_{split}.json").read_text())
        _write(coco, shapes / split, out / folder)
    if test:  # Roboflow's test split: here the val images again
        coco = json.loads((shapes / "annotations" / "instances_val.json").read_text())
        _write(coco, shapes / "val", out / "test")
    return out


def _write(coco: dict, images: Path, folder: Path) -> None:
    folder.mkdir(parents=True)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    by_new = {new: names[old] for old, new in ROBOFLOW_IDS.items()}
    categories = [{"id": 0, "name": "shapes-project", "supercategory": "none"}]
    categories += [{"id": cid, "name": by_new[cid], "supercategory": "shapes-project"} for cid in ROBOFLOW_ORDER[1:]]
    for image in coco["images"]:
        stem = Path(image["file_name"]).stem
        renamed = f"shape photo {stem}_jpg.rf.{int(stem):08x}.jpg"
        shutil.copyfile(images / image["file_name"], folder / renamed)
        image["file_name"] = renamed
    for ann in coco["annotations"]:
        ann["category_id"] = ROBOFLOW_IDS[ann["category_id"]]
    coco["categories"] = categories
    (folder / "_annotations.coco.json").write_text(json.dumps(coco))


def class_names(root: Path) -> list[str]:
    """The export's real classes in its file's category order (mmdet's label order)."""
    coco = json.loads((root / "train" / "_annotations.coco.json").read_text())
    return [c["name"] for c in coco["categories"] if c["id"] != 0]


def edit_annotations(path: Path, edit) -> None:
    coco = json.loads(path.read_text())
    edit(coco)
    path.write_text(json.dumps(coco))
