"""A COCO-format detection set with COCO's own category names and image sizes, for timing the real
recipes (r50-fpn-1x) where COCO itself is not on the machine (scripts/gpu_check.sh).

Not a dataset to learn anything from: filled boxes and ellipses of random COCO categories on noisy
backgrounds. What matters for timing is what COCO's pipeline does with it: JPEGs of COCO's sizes
(640 px on the long side, landscape or portrait) decoded and resized to 1333x800, a few to a dozen
objects per image, and annotation files that mmdet's CocoDataset reads exactly as it reads COCO's
(`annotations/instances_{train,val}2017.json`, `train2017/`, `val2017/`).

The category names are read from mmdet's CocoDataset.METAINFO in its source file, so that the
dataset's classes match the config's without importing mmdet (whose import needs mmcv's compiled
ops, which the GPU check builds later). Run as a file by the training interpreter:

    python bench/coco_like_data.py --out DIR [--train 400] [--val 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import sys
from pathlib import Path

# (width, height) pairs that dominate COCO train2017.
SIZES = ((640, 480), (640, 427), (480, 640), (640, 426), (427, 640), (640, 512), (500, 375), (640, 360))


def coco_class_names() -> list[str]:
    spec = importlib.util.find_spec("mmdet")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"mmdet is not installed for {sys.executable}")
    source = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "coco.py"
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "METAINFO" for t in node.targets):
            return list(ast.literal_eval(node.value)["classes"])
    raise RuntimeError(f"no METAINFO in {source}")


def _image(rng, width: int, height: int, n_classes: int):
    import cv2
    import numpy as np

    base = rng.integers(40, 200, size=3)
    img = np.clip(base + rng.normal(0, 25, size=(height, width, 3)), 0, 255).astype(np.uint8)
    anns = []
    for _ in range(int(rng.integers(2, 13))):
        w, h = int(rng.integers(24, width // 2)), int(rng.integers(24, height // 2))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), colour, thickness=-1)
        else:
            cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, colour, thickness=-1)
        anns.append({"bbox": [x, y, w, h], "area": float(w * h), "category": int(rng.integers(0, n_classes))})
    return img, anns


def generate(out: Path, train: int, val: int, seed: int) -> dict:
    import cv2
    import numpy as np

    names = coco_class_names()
    categories = [{"id": i + 1, "name": name, "supercategory": "none"} for i, name in enumerate(names)]
    rng = np.random.default_rng(seed)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, count in (("train2017", train), ("val2017", val)):
        (out / split).mkdir(exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            width, height = SIZES[int(rng.integers(0, len(SIZES)))]
            img, anns = _image(rng, width, height, len(names))
            name = f"{i:012d}.jpg"
            cv2.imwrite(str(out / split / name), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            images.append({"id": i + 1, "file_name": name, "width": width, "height": height})
            for a in anns:
                annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "bbox": a["bbox"], "area": a["area"],
                                    "category_id": a["category"] + 1, "iscrowd": 0, "segmentation": []})
        (out / "annotations" / f"instances_{split}.json").write_text(
            json.dumps({"images": images, "annotations": annotations, "categories": categories}))
        counts[split] = {"images": len(images), "objects": len(annotations)}
    return {"root": str(out), "classes": len(names), "first_classes": names[:3], **counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--val", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(generate(args.out, args.train, args.val, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
