"""Where a dataset's annotation files and image folders are: detected from a folder in one of the
common layouts (--data PATH), or named one by one (--train-ann/--train-images/--val-ann/--val-images).

Only paths are found here; nothing is opened. A folder in no known layout, or a layout with a
piece missing, is one UserError line that says what was looked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from launcher.errors import UserError

__all__ = ["LAYOUTS", "DataLayout", "Split", "detect", "explicit", "from_options", "is_own_data"]

ROBOFLOW_ANN = "_annotations.coco.json"
ROBOFLOW_VAL = ("valid", "val")  # Roboflow writes valid/; some re-exports rename it

LAYOUTS = ("COCO's annotations/instances_{train,val}*.json with train*/ and val*/; "
           "annotations/{train,val}.json with images/ or train/ and val/; "
           f"Roboflow's train/, valid/ (test/) each with {ROBOFLOW_ANN} and its images")
EXPLICIT_FLAGS = ("--train-ann", "--train-images", "--val-ann", "--val-images")


@dataclass(frozen=True)
class Split:
    ann_file: Path
    img_dir: Path

    def to_dict(self) -> dict[str, str]:
        return {"ann_file": str(self.ann_file), "img_dir": str(self.img_dir)}


@dataclass(frozen=True)
class DataLayout:
    kind: str  # "coco", "annotations", "roboflow" or "explicit"
    root: Path  # the folder given, or the train annotation file's folder for explicit paths
    train: Split
    val: Split
    test: Split | None = None  # Roboflow's test/; else the val split is tested

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test or self.val}

    def to_dict(self) -> dict:
        return {"kind": self.kind, "root": str(self.root),
                **{name: split.to_dict() for name, split in self.splits().items()}}


def _folder(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise UserError(f"{what} {path} is not a folder")
    return path


def _roboflow(root: Path) -> DataLayout | None:
    train = root / "train" / ROBOFLOW_ANN
    val = next((root / v / ROBOFLOW_ANN for v in ROBOFLOW_VAL if (root / v / ROBOFLOW_ANN).exists()), None)
    if not train.exists() and val is None:
        return None
    if not train.exists() or val is None:
        missing = train if not train.exists() else root / "valid" / ROBOFLOW_ANN
        raise UserError(f"{root} looks like a Roboflow export but {missing} is missing")
    test = root / "test" / ROBOFLOW_ANN
    return DataLayout("roboflow", root, Split(train, train.parent), Split(val, val.parent),
                      Split(test, test.parent) if test.exists() else None)


def _images_for(root: Path, split: str, ann: Path, prefix: str) -> Path:
    """COCO's own naming: instances_train2017.json -> train2017/; else the one train*/ folder."""
    suffix = ann.stem[len(prefix):]
    exact = root / f"{split}{suffix}"
    if exact.is_dir():
        return exact
    found = sorted(p for p in root.glob(f"{split}*") if p.is_dir())
    if len(found) != 1:
        raise UserError(f"{root}: found {ann.relative_to(root)} but {'no' if not found else 'more than one'} "
                        f"{split}*/ image folder" + (f" ({', '.join(p.name for p in found)})" if found else ""))
    return found[0]


def _coco(root: Path) -> DataLayout | None:
    anns = root / "annotations"
    train = sorted(anns.glob("instances_train*.json"))
    val = sorted(anns.glob("instances_val*.json"))
    if not train and not val:
        return None
    if len(train) != 1 or len(val) != 1:
        raise UserError(f"{anns} needs exactly one instances_train*.json and one instances_val*.json, found "
                        f"{', '.join(p.name for p in train + val) or 'neither'}")
    return DataLayout("coco", root, Split(train[0], _images_for(root, "train", train[0], "instances_train")),
                      Split(val[0], _images_for(root, "val", val[0], "instances_val")))


def _annotations(root: Path) -> DataLayout | None:
    train, val = root / "annotations" / "train.json", root / "annotations" / "val.json"
    if not train.exists() and not val.exists():
        return None
    if not train.exists() or not val.exists():
        raise UserError(f"{root / 'annotations'} has {'val' if val.exists() else 'train'}.json but not "
                        f"{'train' if val.exists() else 'val'}.json")
    if (root / "train").is_dir() and (root / "val").is_dir():
        return DataLayout("annotations", root, Split(train, root / "train"), Split(val, root / "val"))
    images = root / "images"
    if not images.is_dir():
        raise UserError(f"{root}: found annotations/train.json and val.json but no images/ (or train/ and val/) folder")
    split_dirs = (images / "train").is_dir() and (images / "val").is_dir()
    return DataLayout("annotations", root, Split(train, images / "train" if split_dirs else images),
                      Split(val, images / "val" if split_dirs else images))


def detect(path: str | Path) -> DataLayout:
    """The layout of the folder PATH; UserError when it is none of LAYOUTS."""
    root = Path(path).expanduser().absolute()
    if not root.exists():
        raise UserError(f"{path}: no such dataset folder")
    _folder(root, "the dataset")
    for finder in (_roboflow, _coco, _annotations):
        try:
            found = finder(root)
        except PermissionError as exc:  # an unreadable folder in the tree
            raise UserError(f"{path}: cannot read {exc.filename}") from None
        if found is not None:
            return found
    raise UserError(f"{path}: no known dataset layout (looked for {LAYOUTS}; "
                    f"or name the files with {' '.join(EXPLICIT_FLAGS)})")


def is_own_data(path: str | Path) -> bool:
    """Whether PATH is a folder that looks like an export (Roboflow's, or annotations/{train,val}.json) rather
    than COCO's own tree: where one field takes either (the Plan screen's data field), such a folder is
    planned as --data and COCO's as --data-root. Only stat(); nothing raised."""
    root = Path(path).expanduser()
    try:
        return any((root / p).exists() for p in ("train/" + ROBOFLOW_ANN, *(f"{v}/{ROBOFLOW_ANN}" for v in ROBOFLOW_VAL),
                                                  "annotations/train.json", "annotations/val.json"))
    except OSError:
        return False


def explicit(train_ann: str, train_images: str, val_ann: str, val_images: str) -> DataLayout:
    """The four paths as given (absolute); existence is the check's business, which says what is missing."""
    paths = [Path(p).expanduser().absolute() for p in (train_ann, train_images, val_ann, val_images)]
    for flag, path in zip(EXPLICIT_FLAGS, paths):
        if not path.exists():
            raise UserError(f"{flag} {path}: no such {'folder' if flag.endswith('images') else 'file'}")
    _folder(paths[1], "--train-images")
    _folder(paths[3], "--val-images")
    return DataLayout("explicit", paths[0].parent, Split(paths[0], paths[1]), Split(paths[2], paths[3]))


def from_options(data: str | None, train_ann: str | None = None, train_images: str | None = None,
                 val_ann: str | None = None, val_images: str | None = None) -> DataLayout | None:
    """The layout the user named: --data, or all four explicit flags, or nothing (None)."""
    given = [train_ann, train_images, val_ann, val_images]
    if data and any(given):
        raise UserError(f"use --data PATH or {' '.join(EXPLICIT_FLAGS)}, not both")
    if data:
        return detect(data)
    if any(given):
        if not all(given):
            missing = [flag for flag, value in zip(EXPLICIT_FLAGS, given) if not value]
            raise UserError(f"naming the data file by file needs all of {' '.join(EXPLICIT_FLAGS)} "
                            f"(missing {' '.join(missing)})")
        return explicit(*given)  # type: ignore[arg-type]
    return None
