"""Ground-truth boxes drawn onto a grid of a dataset's images, with OpenCV in the training interpreter.

Run as a file by `frcnn-tui data preview` (launcher/cli/data_cli.py, through training_env.run_script):
frcnn-tui itself never imports cv2 or numpy. Only the stdlib, numpy and cv2 are imported here::

    python data_preview.py --ann FILE --img-dir DIR --out PNG [--n 16] [--tile 256]

N images spread evenly over the file's image list (the same ones every time), each scaled to fit a
TILE x TILE cell, every box in its class's colour with the class name above it; a file that cannot be
read is a grey cell saying so. Prints one JSON line: {"png": path, "images": n, "boxes": n} or {"error": ...}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys


def _colour(index: int) -> tuple[int, int, int]:
    """A distinct, bright BGR colour per class (hues spread by the golden angle)."""
    import cv2
    import numpy as np

    hue = int((index * 137.508) % 180)
    bgr = cv2.cvtColor(np.uint8([[[hue, 220, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def _tile(image_info: dict, boxes: list, names: dict, colours: dict, img_dir: str, tile: int):
    import cv2
    import numpy as np

    cell = np.full((tile, tile, 3), 48, np.uint8)
    img = cv2.imread(os.path.join(img_dir, image_info["file_name"]), cv2.IMREAD_COLOR)
    if img is None:
        cv2.putText(cell, "unreadable", (8, tile // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 200, 200), 1, cv2.LINE_AA)
        return cell
    scale = min(tile / img.shape[1], tile / img.shape[0])
    img = cv2.resize(img, (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
                     interpolation=cv2.INTER_AREA)
    cell[: img.shape[0], : img.shape[1]] = img
    for ann in boxes:
        x, y, w, h = (v * scale for v in ann["bbox"])
        colour = colours.get(ann["category_id"], (255, 255, 255))
        cv2.rectangle(cell, (round(x), round(y)), (round(x + w), round(y + h)), colour, 1, cv2.LINE_AA)
        label = str(names.get(ann["category_id"], ann["category_id"]))
        cv2.putText(cell, label, (round(x) + 1, max(9, round(y) - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1,
                    cv2.LINE_AA)
    return cell


def draw(ann_file: str, img_dir: str, out: str, n: int, tile: int) -> dict:
    import cv2
    import numpy as np

    with open(ann_file, encoding="utf-8") as f:
        coco = json.load(f)
    images = coco["images"]
    if not images:
        return {"error": f"{ann_file} has no images"}
    step = max(1, len(images) // n)
    chosen = images[::step][:n]
    by_image: dict = {}
    for ann in coco.get("annotations", []):
        by_image.setdefault(ann["image_id"], []).append(ann)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    colours = {cid: _colour(i) for i, cid in enumerate(names)}
    cols = math.ceil(math.sqrt(len(chosen)))
    rows = math.ceil(len(chosen) / cols)
    grid = np.zeros((rows * tile, cols * tile, 3), np.uint8)
    boxes = 0
    for i, info in enumerate(chosen):
        anns = by_image.get(info["id"], [])
        boxes += len(anns)
        r, c = divmod(i, cols)
        grid[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = _tile(info, anns, names, colours, img_dir, tile)
    if not cv2.imwrite(out, grid):
        return {"error": f"cv2.imwrite could not write {out}"}
    return {"png": out, "images": len(chosen), "boxes": boxes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw a dataset's ground-truth boxes onto a PNG grid.")
    parser.add_argument("--ann", required=True)
    parser.add_argument("--img-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--tile", type=int, default=256)
    args = parser.parse_args(argv)
    try:
        result = draw(args.ann, args.img_dir, args.out, args.n, args.tile)
    except Exception as exc:  # one JSON line either way: the caller turns it into one message
        result = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
