"""What is in a COCO-format detection set, and what MMDetection 3.3 would make of it.

Reads each annotation file once with orjson and stats every image file; no pycocotools, no
torch, so `frcnn-tui data check` and the plan's `dataset` item answer in about the time the
file takes to parse. What mmdet does with the data (checked in mmdet/datasets/coco.py and
evaluation/metrics/coco_metric.py, see shared/reference/custom-datasets.md):

- labels: ``cat_ids = coco.get_cat_ids(cat_names=classes)`` keeps the categories in the order
  the *file* lists them (pycocotools' getCatIds filters dataset['categories'] in place), and
  label i is cat_ids[i]; the classes are therefore given in that order;
- ``parse_data_info`` drops, without a word and in this order: ignore flags, boxes that do not
  intersect the image, area <= 0 or width/height < 1, a category not among the classes;
- ``filter_data`` drops training images without a kept annotation (filter_empty_gt) and those
  smaller than filter_cfg.min_size (32 in the Faster R-CNN configs);
- CocoMetric maps label i to the i-th class *by name in the val file's order*, so val must name
  the classes, and list them, exactly as train does.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from launcher.data.layout import DataLayout
from launcher.errors import UserError
from launcher.planning.checklist import FAIL, PASS, WARN

__all__ = ["DataReport", "Problem", "SplitStats", "check", "MIN_SIZE", "FEW_INSTANCES"]

MIN_SIZE = 32  # filter_cfg.min_size of mmdet's COCO detection configs
FEW_INSTANCES = 10
EXAMPLES = 3
SMALL, MEDIUM = 32 ** 2, 96 ** 2  # COCO's area ranges (pycocotools COCOeval)


@dataclass
class Problem:
    level: str  # FAIL or WARN
    message: str
    count: int
    fix: str
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "message": self.message, "count": self.count, "examples": self.examples,
                "fix": self.fix}

    def line(self) -> str:
        more = f" (e.g. {', '.join(self.examples)})" if self.examples else ""
        return f"{self.message}{more}"


@dataclass
class SplitStats:
    name: str
    ann_file: Path
    img_dir: Path
    categories: list[tuple[int, str]]  # (id, name) in the file's order
    images: int = 0
    annotations: int = 0
    annotated_images: int = 0  # images with at least one annotation mmdet keeps
    trainable_images: int = 0  # annotated and at least MIN_SIZE on the short side
    kept: dict[int, int] = field(default_factory=dict)  # category id -> annotations mmdet keeps
    used_categories: set[int] = field(default_factory=set)  # ids any annotation names
    widths: list[int] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)
    box_sizes: dict[str, int] = field(default_factory=lambda: {"small": 0, "medium": 0, "large": 0})

    def to_dict(self) -> dict[str, Any]:
        boxes = sum(self.box_sizes.values())
        return {"ann_file": str(self.ann_file), "img_dir": str(self.img_dir), "images": self.images,
                "annotations": self.annotations, "annotated_images": self.annotated_images,
                "trainable_images": self.trainable_images,
                "image_size": {"width": _spread(self.widths), "height": _spread(self.heights)},
                "box_sizes": {k: round(v / boxes, 4) if boxes else 0.0 for k, v in self.box_sizes.items()}}


def _spread(values: list[int]) -> list[float] | None:
    return [min(values), statistics.median(values), max(values)] if values else None


@dataclass
class DataReport:
    layout: DataLayout
    classes: list[tuple[int, str]]  # (category id, name) in label order
    splits: dict[str, SplitStats]
    problems: list[Problem]

    @property
    def names(self) -> list[str]:
        return [name for _, name in self.classes]

    @property
    def status(self) -> str:
        levels = {p.level for p in self.problems}
        return FAIL if FAIL in levels else WARN if WARN in levels else PASS

    def to_dict(self) -> dict[str, Any]:
        train, val = self.splits["train"], self.splits["val"]
        return {"layout": self.layout.kind, "root": str(self.layout.root), "status": self.status,
                "classes": self.names, "num_classes": len(self.classes),
                "categories": [{"label": i, "id": cid, "name": name, "train_instances": train.kept.get(cid, 0),
                                "val_instances": val.kept.get(_val_id(val, name), 0)}
                               for i, (cid, name) in enumerate(self.classes)],
                "splits": {name: s.to_dict() for name, s in self.splits.items()},
                "problems": [p.to_dict() for p in self.problems]}


def _val_id(split: SplitStats, name: str) -> int | None:
    return next((cid for cid, n in split.categories if n == name), None)


# -- reading --------------------------------------------------------------------------------

def _not_coco(path: Path, why: str) -> UserError:
    return UserError(f"{path} is not a COCO detection file: {why}")


def load(path: Path, split: str) -> dict[str, Any]:
    """The parsed file, checked to be COCO's shape at the top; one UserError line otherwise."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"the {split} annotation file {path} is missing") from None
    except IsADirectoryError:
        raise UserError(f"the {split} annotation file {path} is a folder") from None
    except OSError as exc:
        raise UserError(f"cannot read the {split} annotation file {path}: {exc.strerror or exc}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UserError(f"{path} is not JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(data, dict):
        raise _not_coco(path, f"a JSON {type(data).__name__}, not an object with images and categories")
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise _not_coco(path, f"no '{key}' list")
    if not isinstance(data.get("annotations", []), list):
        raise _not_coco(path, "'annotations' is not a list")
    return data


def _read_images(stats: SplitStats, images: list, problems: list[Problem]) -> None:
    if not stats.img_dir.is_dir():
        raise UserError(f"the {stats.name} image folder {stats.img_dir} is missing")
    seen: set = set()
    duplicate, missing = [], []
    folder = str(stats.img_dir)
    for index, image in enumerate(images):
        try:
            image_id, file_name, width, height = image["id"], image["file_name"], image["width"], image["height"]
            if not isinstance(width, (int, float)) or not isinstance(height, (int, float)):
                raise TypeError  # mmdet's filters compare them with numbers
        except (KeyError, TypeError):
            raise _not_coco(stats.ann_file, f"images[{index}] needs an id, a file_name and a numeric width and height") from None
        if image_id in seen:
            duplicate.append(str(image_id))
        seen.add(image_id)
        stats.widths.append(width)
        stats.heights.append(height)
        if not os.path.isfile(os.path.join(folder, file_name)):  # every file, by stat
            missing.append(str(file_name))
    stats.images = len(images)
    if duplicate:
        problems.append(Problem(FAIL, f"{stats.name}: {len(duplicate)} duplicate image ids", len(duplicate),
                                "give every image its own id (pycocotools keeps only the last of each)",
                                duplicate[:EXAMPLES]))
    if missing:
        problems.append(Problem(FAIL, f"{stats.name}: {len(missing)} of {len(images)} image files missing in "
                                f"{stats.img_dir}", len(missing), "copy the images there, or point the image "
                                "folder (--data layout or --train-images/--val-images) where they are",
                                missing[:EXAMPLES]))


def _read_annotations(stats: SplitStats, data: dict, class_ids: set[int] | None, problems: list[Problem]) -> None:
    """Count what mmdet keeps and drops, in parse_data_info's order. CLASS_IDS: the ids of the
    classes (None while the classes are still being found, for train)."""
    images = {image["id"]: image for image in data["images"]}
    known = {cid for cid, _ in stats.categories}
    dropped: dict[str, list[str]] = {"outside": [], "empty": [], "unknown-image": []}
    unknown_category: list[str] = []
    not_a_class: list[str] = []  # a category of the file that is none of the classes (train has none of it)
    annotated: set = set()
    for index, ann in enumerate(data.get("annotations", [])):
        try:
            image_id, category_id = ann["image_id"], ann["category_id"]
            x, y, w, h = ann["bbox"]
            area = ann.get("area", w * h)
            x2, y2 = x + w, y + h
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _not_coco(stats.ann_file, f"annotations[{index}] lacks an image_id, category_id or "
                            f"[x, y, w, h] bbox") from None
        ref = str(ann.get("id", index))
        image = images.get(image_id)
        if category_id not in known:
            unknown_category.append(f"{ref} (category {category_id})")
            continue
        stats.used_categories.add(category_id)
        if image is None:
            dropped["unknown-image"].append(ref)
            continue
        if ann.get("ignore", False):
            continue
        inter_w = max(0, min(x2, image["width"]) - max(x, 0))
        inter_h = max(0, min(y2, image["height"]) - max(y, 0))
        if inter_w * inter_h == 0:
            dropped["outside"].append(ref)
            continue
        if area <= 0 or w < 1 or h < 1:
            dropped["empty"].append(ref)
            continue
        if class_ids is not None and category_id not in class_ids:
            not_a_class.append(ref)
            continue
        stats.kept[category_id] = stats.kept.get(category_id, 0) + 1
        if not ann.get("iscrowd", 0):
            stats.box_sizes["small" if area < SMALL else "medium" if area < MEDIUM else "large"] += 1
        if image_id not in annotated:
            annotated.add(image_id)
            if min(image["width"], image["height"]) >= MIN_SIZE:
                stats.trainable_images += 1
    stats.annotations = len(data.get("annotations", []))
    stats.annotated_images = len(annotated)
    if not_a_class:
        problems.append(Problem(WARN, f"{stats.name}: {len(not_a_class)} annotations of categories train has no "
                                f"annotations of; they are not evaluated", len(not_a_class),
                                "label that class in train too, or drop it from val", not_a_class[:EXAMPLES]))
    name = stats.name
    if unknown_category:
        problems.append(Problem(FAIL, f"{name}: {len(unknown_category)} annotations name a category that is not "
                                f"among the file's categories", len(unknown_category),
                                "add the category to 'categories' or fix the annotations' category_id",
                                unknown_category[:EXAMPLES]))
    for key, message in (("outside", "boxes outside their image"),
                         ("empty", "boxes with zero area or a width or height under 1 px"),
                         ("unknown-image", "annotations on an image id that is not among the images")):
        if dropped[key]:
            problems.append(Problem(WARN, f"{name}: {len(dropped[key])} {message}, which mmdet drops without a word",
                                    len(dropped[key]), "fix or delete them in the annotation tool and export again",
                                    dropped[key][:EXAMPLES]))
    without = stats.images - len(annotated)
    if name == "train" and without:
        problems.append(Problem(WARN, f"train: {without} of {stats.images} images have no annotation mmdet keeps; "
                                f"they are left out of training (filter_empty_gt)", without,
                                "label them, or leave them: they do not train as background"))


# -- the check ------------------------------------------------------------------------------

def _classes(train: SplitStats, problems: list[Problem]) -> list[tuple[int, str]]:
    """Train's categories that any annotation uses, in the file's order (= mmdet's label order)."""
    classes = [(cid, name) for cid, name in train.categories if cid in train.used_categories]
    unused = [f"{name} (id {cid})" for cid, name in train.categories if cid not in train.used_categories]
    if unused and classes:
        problems.append(Problem(WARN, f"train: {len(unused)} categories have no annotations and are left out of "
                                f"the classes", len(unused), "nothing to do for an export's parent category; "
                                "otherwise label some of them", unused[:EXAMPLES]))
    names = [name for _, name in classes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        problems.append(Problem(FAIL, f"train: {len(twice)} class names are used by more than one category id",
                                len(twice), "give each category its own name (mmdet maps classes by name)", twice))
    few = [f"{name} ({train.kept.get(cid, 0)})" for cid, name in classes if train.kept.get(cid, 0) < FEW_INSTANCES]
    if few:
        problems.append(Problem(WARN, f"train: {len(few)} classes have fewer than {FEW_INSTANCES} instances",
                                len(few), "label more examples of them; their AP will be noisy",
                                few[:EXAMPLES]))
    return classes


def _compare_val(classes: list[tuple[int, str]], val: SplitStats, problems: list[Problem]) -> None:
    """CocoMetric finds the classes in the val file by name and in its order: both must match train."""
    by_name = {name: cid for cid, name in val.categories}
    lower = {name.lower(): name for name in by_name}
    differ = []
    for cid, name in classes:
        if name not in by_name:
            other = lower.get(name.lower())
            differ.append(f"'{name}' is '{other}' in val" if other else f"'{name}' is not in val")
        elif by_name[name] != cid:
            differ.append(f"'{name}' is id {cid} in train, {by_name[name]} in val")
    if differ:
        problems.append(Problem(FAIL, f"train and val classes differ: {'; '.join(differ[:EXAMPLES])}", len(differ),
                                "use one category list (names, case and ids) in both files; a class val "
                                "does not name evaluates to nothing"))
        return
    names = {name for _, name in classes}
    val_order = [name for _, name in val.categories if name in names]
    if val_order != [name for _, name in classes]:
        problems.append(Problem(FAIL, "val lists the classes in another order than train, so CocoMetric would "
                                "score each class's boxes against another class", 1,
                                "list the categories in the same order in both files", val_order[:EXAMPLES]))


def check(layout: DataLayout) -> DataReport:
    """Read LAYOUT's train and val files and images; UserError for input that is not a dataset."""
    problems: list[Problem] = []
    stats: dict[str, SplitStats] = {}
    raw: dict[str, dict] = {}
    for name, split in (("train", layout.train), ("val", layout.val)):
        raw[name] = load(split.ann_file, name)
        try:
            categories = [(c["id"], c["name"]) for c in raw[name]["categories"]]
        except (KeyError, TypeError):
            raise _not_coco(split.ann_file, "a category without an id or a name") from None
        stats[name] = SplitStats(name, split.ann_file, split.img_dir, categories)
        _read_images(stats[name], raw[name]["images"], problems)
    train, val = stats["train"], stats["val"]
    _read_annotations(train, raw["train"], None, problems)
    classes = _classes(train, problems)
    # Train's counts were taken before the classes were known: every category it uses is a class.
    val_ids = {cid for cid, name in val.categories if name in {n for _, n in classes}}
    _read_annotations(val, raw["val"], val_ids, problems)
    _compare_val(classes, val, problems)
    if not train.trainable_images:
        problems.append(Problem(FAIL, "nothing to train on: no train image keeps an annotation after mmdet's "
                                f"filters (a kept box and a short side of at least {MIN_SIZE} px)", 0,
                                "see the problems above; check the category ids and the boxes"))
    problems.sort(key=lambda p: p.level != FAIL)  # FAIL first, each level in the order found
    return DataReport(layout, classes, stats, problems)
