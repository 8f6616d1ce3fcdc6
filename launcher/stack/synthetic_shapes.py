"""The pictures of the synthetic-shapes dataset: one image and its objects' visible boxes.

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

Only the stdlib at module level: numpy and cv2 are imported inside the functions (this
runs in the training interpreter, next to synthetic_data.py, which writes the dataset).
"""

from __future__ import annotations

CLASSES = ("rectangle", "ellipse", "triangle")

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


def make_image(rng, size: int):
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
