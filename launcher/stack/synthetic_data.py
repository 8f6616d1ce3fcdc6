"""A small synthetic COCO detection dataset ("synthetic-shapes") for the CPU demo.

Filled rectangles, ellipses and triangles of random sizes, aspect ratios and rotations,
each class in its own colour family (reddish rectangles, greenish ellipses, bluish
triangles, with jittered hue, saturation, brightness and shading), on noisy flat, gradient
or blotchy backgrounds in muted colours (20% of their saturation), with clutter (thin lines, specks, small rings
that are not objects, in any colour) and partial occlusion between objects (each stays
>= 70 % visible). Boxes are the *visible* extent of each object (as in COCO), ``area``
its visible pixel count.

Why it is this easy, measured with the demo-cpu model (ResNet-18 at half width, from
scratch, 2 gloo workers, bbox mAP on the val split; BENCHMARKS.md has the table):
- colour families: with random colours the classes differ only by shape, which a
  from-scratch network learns far too slowly for a ten-minute demo (mAP 0.17 after
  6 epochs, against 0.46 with colour families);
- muted backgrounds: fully saturated gradients and blotches, often in a class's own
  hue, blur the objects' edges, and the boxes' high-IoU precision is what bbox mAP
  (IoU 0.50:0.95) rewards (+0.08 mAP at 40% saturation, +0.02 more at 20%); bigger
  objects, less noise and less occlusion did not help.

The file is run as a standalone script by the training interpreter::

    python launcher/stack/synthetic_data.py --out DIR --seed 0 [--train N --val N --size PX]

so it only imports the stdlib at module level; numpy and cv2 are imported inside
the functions that need them (the launcher package itself must import without
numpy). The output is byte-for-byte deterministic for a given seed and parameters
(with the same numpy/opencv builds).

The dataset is written into ``DIR.tmp-<pid>`` and renamed to ``DIR`` once complete;
``DIR/.complete`` holds the generation parameters as JSON. A directory with a marker
matching the requested parameters is reused as is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

NAME = "synthetic-shapes"
VERSION = 2  # bump whenever the images change: cached datasets are keyed by it
CLASSES = ("rectangle", "ellipse", "triangle")
MARKER = ".complete"

DEFAULT_TRAIN = 400
DEFAULT_VAL = 100
DEFAULT_SIZE = 160

# Objects: 1..MAX_OBJECTS per image, side between these fractions of the image side.
MAX_OBJECTS = 4
MIN_OBJ_FRAC = 0.15
MAX_OBJ_FRAC = 0.45
# An object stays at least this fraction visible after later objects are drawn.
MIN_VISIBLE = 0.7
# Backgrounds keep this fraction of their colour around their grey level (see above).
BACKGROUND_SATURATION = 0.2
# 0..MAX_CLUTTER - 1 clutter items per image.
MAX_CLUTTER = 4
# Sensor noise: Gaussian sigma drawn from this range per image.
NOISE_SIGMA = (2.5, 11.0)
# OpenCV hue (0..180) of each class's colour family: red, green, blue; +- HUE_JITTER.
CLASS_HUES = (0, 60, 120)
HUE_JITTER = 12

_SPLIT_IDS = {"train": 1, "val": 2}


class DatasetError(RuntimeError):
    """Generating the synthetic dataset failed."""


# ----------------------------------------------------------------------------- paths

def dataset_dir(cache_root: Path, seed: int = 0) -> Path:
    """The canonical location of the default synthetic dataset for ``seed``."""
    return Path(cache_root) / "datasets" / f"{NAME}-v{VERSION}-seed{int(seed)}"


def params_for(seed: int = 0, train: int = DEFAULT_TRAIN, val: int = DEFAULT_VAL,
               size: int = DEFAULT_SIZE) -> dict:
    return {"name": NAME, "version": VERSION, "seed": int(seed), "train": int(train),
            "val": int(val), "size": int(size), "classes": list(CLASSES)}


def read_marker(out: Path) -> dict | None:
    try:
        return json.loads((Path(out) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_complete(out: Path, params: dict | None = None) -> bool:
    marker = read_marker(out)
    if marker is None:
        return False
    return params is None or marker == params


def ensure_dataset(python: str, cache_root: Path, seed: int = 0) -> Path:
    """Return the default dataset for ``seed`` under ``cache_root``, generating it with
    the interpreter ``python`` (which must have numpy and cv2) when it is missing."""
    out = dataset_dir(cache_root, seed)
    if is_complete(out, params_for(seed)):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(python), str(Path(__file__).resolve()), "--out", str(out), "--seed", str(int(seed))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatasetError(f"could not generate the synthetic dataset with {python}: {exc}") from exc
    if proc.returncode != 0 or not is_complete(out, params_for(seed)):
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        raise DatasetError(
            f"generating the synthetic dataset in {out} with {python} failed "
            f"(exit {proc.returncode}):\n{tail}")
    return out


# ------------------------------------------------------------------------ generation

def _background(rng, size: int):
    """A smooth background (float32 HxWx3) in muted colours."""
    import numpy as np

    bg = _colourful_background(rng, size)
    grey = bg.mean(axis=2, keepdims=True)
    return grey + (bg - grey) * np.float32(BACKGROUND_SATURATION)


def _colourful_background(rng, size: int):
    """Flat grey, a gradient between two colours, or colour blotches (float32 HxWx3)."""
    import numpy as np

    kind = rng.integers(0, 3)
    if kind == 0:  # flat grey
        return np.full((size, size, 3), rng.uniform(60, 200), np.float32)
    if kind == 1:  # linear gradient between two colours
        c0 = rng.uniform(30, 225, 3).astype(np.float32)
        c1 = rng.uniform(30, 225, 3).astype(np.float32)
        theta = rng.uniform(0, 2 * np.pi)
        r = np.arange(size, dtype=np.float32) / (size - 1)
        t = r[None, :] * np.float32(np.cos(theta)) + r[:, None] * np.float32(np.sin(theta))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        return c0 + (c1 - c0) * t[..., None]
    import cv2  # smooth blotches: upsampled low-res colour noise

    low = rng.uniform(40, 210, (4, 4, 3)).astype(np.float32)
    return cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)


def _shape_points(rng, cls: int, cx: float, cy: float, s: float):
    """Polygon (int32 Nx2) of an object of class ``cls`` with nominal side ``s``."""
    import numpy as np

    angle = rng.uniform(0, np.pi)
    if cls == 0:  # rectangle, aspect 1:1 .. 1:2.5, any rotation
        ar = rng.uniform(0.4, 1.0)
        w, h = s, s * ar
        if rng.random() < 0.5:
            w, h = h, w
        base = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], np.float64) / 2
        if rng.random() < 0.5:
            angle = 0.0  # axis-aligned half of the time
    elif cls == 1:  # ellipse, approximated by a fine polygon
        ar = rng.uniform(0.45, 1.0)
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        base = np.stack([np.cos(t) * s / 2, np.sin(t) * s * ar / 2], 1)
    else:  # triangle: three vertices on a jittered circle, no sliver triangles
        a0 = rng.uniform(0, 2 * np.pi)
        gaps = rng.uniform(0.75, 1.25, 3)
        gaps = gaps / gaps.sum() * 2 * np.pi
        ang = a0 + np.concatenate([[0], np.cumsum(gaps[:2])])
        r = s / 2 * rng.uniform(0.85, 1.1, 3)
        base = np.stack([np.cos(ang) * r, np.sin(ang) * r], 1)
    c, si = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -si], [si, c]])
    pts = base @ rot.T + np.array([cx, cy])
    return np.round(pts).astype(np.int32)


def _colour(rng, bg_mean, cls: int):
    """A colour of the class's hue family (jittered) that stands out from the local
    background mean. Colour is a strong cue on purpose: shape alone is too slow for a
    from-scratch network to learn in the few minutes the CPU demo has."""
    import cv2
    import numpy as np

    hue0 = CLASS_HUES[cls]
    hsv = np.zeros((1, 1, 3), np.uint8)
    for attempt in range(20):
        hsv[0, 0] = ((hue0 + int(rng.integers(-HUE_JITTER, HUE_JITTER + 1))) % 180,
                     rng.integers(120, 256), rng.integers(100, 256))
        if attempt == 19:  # fall back to the darkest or brightest version of the hue
            hsv[0, 0, 2] = 100 if bg_mean.mean() > 127 else 255
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
        if np.abs(bgr - bg_mean).sum() > 120:
            break
    return bgr


def _clutter(rng, img, size: int) -> None:
    """Thin lines, small specks and small rings: structure that is not an object."""
    import cv2

    for _ in range(rng.integers(0, MAX_CLUTTER)):
        col = tuple(float(v) for v in rng.uniform(0, 255, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            p0 = tuple(int(v) for v in rng.integers(0, size, 2))
            p1 = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.line(img, p0, p1, col, int(rng.integers(1, 3)), cv2.LINE_AA)
        elif kind == 1:
            c = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.circle(img, c, int(rng.integers(1, max(2, size // 64) + 1)), col, -1, cv2.LINE_AA)
        else:
            c = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.circle(img, c, int(rng.integers(3, max(4, size // 24) + 1)), col, 1, cv2.LINE_AA)


def _make_image(rng, size: int):
    """One image (uint8 HxWx3, BGR) and its objects [(cls, x, y, w, h, area)]."""
    import cv2
    import numpy as np

    img = _background(rng, size)
    _clutter(rng, img, size)
    owner = np.zeros((size, size), np.uint8)  # 0 = background, k = object k (visible part)
    full_area: list[int] = []
    classes: list[int] = []
    n = int(rng.integers(1, MAX_OBJECTS + 1))
    min_area = (MIN_OBJ_FRAC * size) ** 2 * 0.3
    tries = 0
    while len(classes) < n and tries < 30 * n:
        tries += 1
        cls = int(rng.integers(0, len(CLASSES)))
        s = rng.uniform(MIN_OBJ_FRAC, MAX_OBJ_FRAC) * size
        cx, cy = rng.uniform(s * 0.35, size - s * 0.35, 2)  # may poke out of the frame a little
        pts = _shape_points(rng, cls, cx, cy, s)
        # Work in the object's bounding window (1 px of margin for anti-aliasing).
        x0, y0 = np.maximum(pts.min(0) - 1, 0)
        x1, y1 = np.minimum(pts.max(0) + 2, size)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        local = pts - np.array([x0, y0], np.int32)
        cover = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(cover, [local], 255, cv2.LINE_AA)
        m = cover >= 128
        area = int(np.count_nonzero(m))
        if area < min_area:
            continue
        # Reject placements that would hide too much of an earlier object.
        under = owner[y0:y1, x0:x1][m]
        if under.any():
            hidden = np.bincount(under, minlength=len(classes) + 1)
            visible = np.bincount(owner.ravel(), minlength=len(classes) + 1)
            if any(visible[k] - hidden[k] < MIN_VISIBLE * full_area[k - 1]
                   for k in range(1, len(classes) + 1) if hidden[k]):
                continue
        classes.append(cls)
        full_area.append(area)
        owner[y0:y1, x0:x1][m] = len(classes)
        win = img[y0:y1, x0:x1]
        colour = _colour(rng, win[m].mean(axis=0), cls)
        fill = np.clip(colour + rng.uniform(-25, 25, 3).astype(np.float32), 0, 255)
        # Anti-aliased coverage as alpha, so edges blend into what is underneath.
        a = cover.astype(np.float32)[..., None] * np.float32(1 / 255)
        win += (fill - win) * a
    # Sensor noise over everything.
    sigma = np.float32(rng.uniform(*NOISE_SIGMA))
    img += rng.standard_normal((size, size, 3), dtype=np.float32) * sigma
    np.clip(img, 0, 255, out=img)
    img = np.rint(img).astype(np.uint8)
    anns = []
    for k, cls in enumerate(classes, start=1):
        visible = owner == k
        area = int(np.count_nonzero(visible))
        if area == 0:
            continue
        ys = np.flatnonzero(visible.any(axis=1))
        xs = np.flatnonzero(visible.any(axis=0))
        x0, y0, x1, y1 = int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1
        anns.append((cls, x0, y0, x1 - x0, y1 - y0, area))
    return img, anns


def _write_split(root: Path, split: str, count: int, seed: int, size: int) -> None:
    import cv2
    import numpy as np

    (root / split).mkdir(parents=True)
    images, annotations = [], []
    ann_id = 1
    for i in range(count):
        rng = np.random.default_rng([seed, _SPLIT_IDS[split], i])
        img, anns = _make_image(rng, size)
        name = f"{i:06d}.jpg"
        if not cv2.imwrite(str(root / split / name), img, [cv2.IMWRITE_JPEG_QUALITY, 92]):
            raise DatasetError(f"cv2.imwrite failed for {root / split / name}")
        image_id = i + 1
        images.append({"id": image_id, "file_name": name, "width": size, "height": size})
        for cls, x, y, w, h, area in anns:
            annotations.append({"id": ann_id, "image_id": image_id, "category_id": cls + 1,
                                "bbox": [x, y, w, h], "area": area, "iscrowd": 0,
                                "segmentation": []})
            ann_id += 1
    coco = {
        "info": {"description": f"{NAME} v{VERSION} ({split}, seed {seed})", "version": str(VERSION)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k + 1, "name": c, "supercategory": "shape"}
                       for k, c in enumerate(CLASSES)],
    }
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / f"instances_{split}.json").write_text(
        json.dumps(coco, separators=(",", ":")))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _clean_stale_tmp(out: Path) -> None:
    for tmp in out.parent.glob(f"{out.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    """Refuse to overwrite anything but an empty dir or one of our own datasets."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink():
        marker = read_marker(out)
        if (marker or {}).get("name") == NAME or not any(out.iterdir()):
            return
    raise DatasetError(f"{out} exists and is not a {NAME} dataset; choose another --out")


def generate(out: Path, seed: int = 0, train: int = DEFAULT_TRAIN, val: int = DEFAULT_VAL,
             size: int = DEFAULT_SIZE) -> Path:
    """Write the dataset to ``out`` atomically, or reuse it if already complete."""
    out = Path(out).absolute()
    params = params_for(seed, train, val, size)
    if is_complete(out, params):
        return out
    if size < 64 or train < 1 or val < 1:
        raise DatasetError("need --size >= 64 and at least one train and one val image")
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(out)
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        _write_split(tmp, "train", train, seed, size)
        _write_split(tmp, "val", val, seed, size)
        (tmp / MARKER).write_text(json.dumps(params, sort_keys=True))
        if out.exists():
            if is_complete(out, params):  # another process finished first
                shutil.rmtree(tmp, ignore_errors=True)
                return out
            _check_replaceable(out)
            # A dataset with other parameters: move it aside, then delete it.
            old = out.parent / f"{out.name}.old-{os.getpid()}"
            os.rename(out, old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, out)
        except OSError:
            if is_complete(out, params):  # lost a race to an identical dataset
                shutil.rmtree(tmp, ignore_errors=True)
                return out
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"Write the {NAME} COCO dataset.")
    parser.add_argument("--out", required=True, type=Path, help="dataset directory to create")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=DEFAULT_TRAIN, help="number of train images")
    parser.add_argument("--val", type=int, default=DEFAULT_VAL, help="number of val images")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="image side in pixels")
    args = parser.parse_args(argv)
    try:
        out = generate(args.out, args.seed, args.train, args.val, args.size)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
