"""A small synthetic COCO detection dataset ("synthetic-shapes") for the CPU demo: where it is
cached, and writing it (the pictures themselves are synthetic_shapes.py's).

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

if __package__:
    from launcher.stack import synthetic_shapes as shapes
else:  # run as a file by the training interpreter (which need not have launcher): its folder is on sys.path
    import synthetic_shapes as shapes

NAME = "synthetic-shapes"
VERSION = 2  # bump whenever the images change (synthetic_shapes.py): cached datasets are keyed by it
CLASSES = shapes.CLASSES
MARKER = ".complete"

DEFAULT_TRAIN = 400
DEFAULT_VAL = 100
DEFAULT_SIZE = 160

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


class PendingDataset:
    """The default dataset, either already complete or being written by a child process.

    Started before the plan's environment inspection and awaited after it: the two are
    independent (the inspection only names the data root) and each takes seconds of one
    core, so the first demo no longer pays them one after the other.
    """

    def __init__(self, out: Path, python: str, seed: int, proc: subprocess.Popen | None):
        self.out, self._python, self._seed, self._proc = out, python, seed, proc

    def wait(self, timeout: float = 600) -> Path:
        proc, self._proc = self._proc, None
        if proc is None:
            return self.out
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise DatasetError(f"could not generate the synthetic dataset with {self._python}: {exc}") from exc
        if proc.returncode != 0 or not is_complete(self.out, params_for(self._seed)):
            tail = "\n".join((stderr or stdout or "").strip().splitlines()[-15:])
            raise DatasetError(
                f"generating the synthetic dataset in {self.out} with {self._python} failed "
                f"(exit {proc.returncode}):\n{tail}")
        return self.out


def start_dataset(python: str, cache_root: Path, seed: int = 0) -> PendingDataset:
    """Start generating the default dataset for ``seed`` under ``cache_root`` with the
    interpreter ``python`` (which must have numpy and cv2) when it is missing."""
    out = dataset_dir(cache_root, seed)
    if is_complete(out, params_for(seed)):
        return PendingDataset(out, python, int(seed), None)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(python), str(Path(__file__).resolve()), "--out", str(out), "--seed", str(int(seed))]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        raise DatasetError(f"could not generate the synthetic dataset with {python}: {exc}") from exc
    return PendingDataset(out, python, int(seed), proc)


def ensure_dataset(python: str, cache_root: Path, seed: int = 0) -> Path:
    """Return the default dataset for ``seed`` under ``cache_root``, generating it first
    when it is missing."""
    return start_dataset(python, cache_root, seed).wait()


def _write_split(root: Path, split: str, count: int, seed: int, size: int) -> None:
    import cv2
    import numpy as np

    (root / split).mkdir(parents=True)
    images, annotations = [], []
    ann_id = 1
    for i in range(count):
        rng = np.random.default_rng([seed, _SPLIT_IDS[split], i])
        img, anns = shapes.make_image(rng, size)
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
