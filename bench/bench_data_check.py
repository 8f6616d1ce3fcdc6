"""Is `frcnn-tui data check` as fast as loading the same files with pycocotools? (issue 25)

A COCO-size set is generated in a temp dir (removed at exit): COCO's own layout with
annotations/instances_train2017.json (118,000 images, 860,000 boxes over COCO's 80 category
ids) and instances_val2017.json (5,000 images, 36,000 boxes), and an empty file for every image
(the check stats each one; pycocotools never opens them). Then, A and B interleaved:

* A: `frcnn-tui data check DIR --json` (a whole process: parse both files, count what mmdet
  would keep, stat every image);
* B: `python -c "COCO(train); COCO(val)"`, pycocotools loading the same two files, as mmdet's
  CocoDataset does before training (a whole process too).

Goal (issue 25): A ÷ B ≤ 1.

  .venv/bin/python bench/bench_data_check.py [--quick] [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PY, ROOT, fmt_summary, loadavg, run_figure, summary  # noqa: E402

GOAL = 1.0
FULL = {"train": (118_000, 860_000), "val": (5_000, 36_000)}
QUICK = {"train": (5_000, 36_000), "val": (500, 3_600)}
# COCO's 80 category ids (1..90 with ten never used) and its most common image sizes.
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
SIZES = ((640, 480), (640, 427), (480, 640), (640, 426), (427, 640), (640, 512), (500, 375), (640, 360))


def write_split(root: Path, split: str, images: int, boxes: int, rng: random.Random) -> None:
    folder = root / f"{split}2017"
    folder.mkdir(parents=True)
    imgs, anns = [], []
    for i in range(1, images + 1):
        w, h = SIZES[i % len(SIZES)]
        name = f"{i:012d}.jpg"
        imgs.append({"id": i, "file_name": name, "width": w, "height": h, "license": 1})
        (folder / name).touch()
    for a in range(1, boxes + 1):
        image = imgs[rng.randrange(images)]
        bw, bh = rng.uniform(4, image["width"] / 2), rng.uniform(4, image["height"] / 2)
        x, y = rng.uniform(0, image["width"] - bw), rng.uniform(0, image["height"] - bh)
        anns.append({"id": a, "image_id": image["id"], "category_id": rng.choice(COCO_IDS), "iscrowd": 0,
                     "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)], "area": round(bw * bh, 2),
                     "segmentation": []})
    coco = {"info": {"description": "bench_data_check"}, "licenses": [], "images": imgs, "annotations": anns,
            "categories": [{"id": c, "name": f"class {c}", "supercategory": "thing"} for c in COCO_IDS]}
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(coco))


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: the check found a problem, still a full check
        raise RuntimeError(f"{' '.join(cmd[:4])}... exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return elapsed


def measure(args: argparse.Namespace) -> dict:
    sizes = QUICK if args.quick else FULL
    repeats = args.repeats or (1 if args.quick else 3)
    tmp = Path(tempfile.mkdtemp(prefix="bench-data-check-"))
    try:
        rng = random.Random(0)
        for split, (images, boxes) in sizes.items():
            write_split(tmp, split, images, boxes, rng)
        anns = [str(tmp / "annotations" / f"instances_{s}2017.json") for s in sizes]
        check = [PY, "-m", "launcher.cli", "data", "check", str(tmp), "--json"]
        coco = [PY, "-c", "import sys; from pycocotools.coco import COCO\n[COCO(f) for f in sys.argv[1:]]", *anns]
        pairs = []
        for _ in range(repeats):
            a, b = timed(check), timed(coco)
            pairs.append({"check_s": a, "pycocotools_s": b, "ratio": a / b})
        ratio = summary(p["ratio"] for p in pairs)
        return {"figure": "data_check", "sizes": sizes, "pairs": pairs, "ratio": ratio,
                "check_s": summary(p["check_s"] for p in pairs),
                "pycocotools_s": summary(p["pycocotools_s"] for p in pairs),
                "file_mb": round(sum(Path(f).stat().st_size for f in anns) / 1e6, 1), "goal": GOAL,
                "met": ratio["median"] <= GOAL, "loadavg": loadavg()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def describe(r: dict) -> list[str]:
    return [f"data check {fmt_summary(r['check_s'], '.2f', ' s')}, pycocotools {fmt_summary(r['pycocotools_s'], '.2f', ' s')}"
            f" on {r['file_mb']} MB of annotations: ratio {fmt_summary(r['ratio'])} (goal ≤ {GOAL:g}: "
            f"{'met' if r['met'] else 'missed'})"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5,000-image set, one pair")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, help="A/B pairs (default 3; quick 1)")
    return run_figure("data_check", measure, parser.parse_args(argv), describe)


if __name__ == "__main__":
    sys.exit(main())
