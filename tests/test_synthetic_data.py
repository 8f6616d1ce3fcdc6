"""The synthetic-shapes dataset writer (launcher/stack/synthetic_data.py): fast, no training."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
cv2 = pytest.importorskip("cv2")

from launcher.stack import synthetic_data as sd  # noqa: E402

SCRIPT = Path(sd.__file__).resolve()
REPO = SCRIPT.parent.parent
TINY = ["--train", "8", "--val", "4", "--size", "128"]


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def _run_cli(out: Path, seed: int = 0, extra: list[str] = TINY) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--seed", str(seed), *extra],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "shapes"
    proc = _run_cli(out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_module_imports_without_numpy():
    code = ("import sys; import launcher.stack.synthetic_data as m; "
            "assert 'numpy' not in sys.modules and 'cv2' not in sys.modules; "
            "print(m.dataset_dir.__name__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_layout_and_marker(tiny: Path):
    assert sorted(p.name for p in tiny.iterdir()) == [".complete", "annotations", "train", "val"]
    assert len(list((tiny / "train").iterdir())) == 8
    assert len(list((tiny / "val").iterdir())) == 4
    marker = json.loads((tiny / ".complete").read_text())
    assert marker == sd.params_for(0, 8, 4, 128)
    assert not list(tiny.parent.glob("shapes.tmp-*"))


def test_same_seed_same_bytes(tiny: Path, tmp_path: Path):
    again = sd.generate(tmp_path / "again", seed=0, train=8, val=4, size=128)  # in-process
    assert _tree_hash(again) == _tree_hash(tiny)
    other = sd.generate(tmp_path / "other", seed=1, train=8, val=4, size=128)
    assert _tree_hash(other) != _tree_hash(tiny)


@pytest.mark.parametrize("split,count", [("train", 8), ("val", 4)])
def test_valid_coco(tiny: Path, split: str, count: int):
    ann_file = tiny / "annotations" / f"instances_{split}.json"
    data = json.loads(ann_file.read_text())
    assert [c["name"] for c in data["categories"]] == list(sd.CLASSES)
    cat_ids = {c["id"] for c in data["categories"]}
    images = {im["id"]: im for im in data["images"]}
    assert len(images) == count
    ann_ids = [a["id"] for a in data["annotations"]]
    assert len(ann_ids) == len(set(ann_ids))
    per_image = {i: 0 for i in images}
    for a in data["annotations"]:
        im = images[a["image_id"]]
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0
        assert 0 <= x and 0 <= y and x + w <= im["width"] and y + h <= im["height"]
        assert 0 < a["area"] <= w * h
        assert a["iscrowd"] == 0 and a["category_id"] in cat_ids
        per_image[a["image_id"]] += 1
    assert all(n >= 1 for n in per_image.values())
    for im in images.values():
        pixels = cv2.imread(str(tiny / split / im["file_name"]))
        assert pixels is not None and pixels.shape == (im["height"], im["width"], 3)
    pycoco = pytest.importorskip("pycocotools.coco")
    coco = pycoco.COCO(str(ann_file))
    assert sorted(coco.getCatIds()) == sorted(cat_ids)
    assert len(coco.getImgIds()) == count


def test_all_categories_present(tmp_path: Path):
    out = sd.generate(tmp_path / "ds", seed=3, train=16, val=4, size=128)
    data = json.loads((out / "annotations" / "instances_train.json").read_text())
    assert {a["category_id"] for a in data["annotations"]} == {1, 2, 3}


def test_complete_dataset_is_reused(tiny: Path):
    before = {p: p.stat().st_mtime_ns for p in tiny.rglob("*")}
    proc = _run_cli(tiny)
    assert proc.returncode == 0, proc.stderr
    assert {p: p.stat().st_mtime_ns for p in tiny.rglob("*")} == before


def test_other_params_replace_the_dataset(tmp_path: Path):
    out = sd.generate(tmp_path / "ds", seed=0, train=2, val=1, size=96)
    sd.generate(out, seed=0, train=3, val=1, size=96)
    assert sd.read_marker(out)["train"] == 3
    assert len(list((out / "train").iterdir())) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_foreign_directory_is_never_replaced(tmp_path: Path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(sd.DatasetError, match="not a synthetic-shapes dataset"):
        sd.generate(foreign, seed=0, train=2, val=1, size=96)
    assert (foreign / "thesis.tex").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]
    proc = _run_cli(foreign)
    assert proc.returncode == 1 and "not a synthetic-shapes dataset" in proc.stderr


def test_failure_leaves_no_half_dataset(tmp_path: Path, monkeypatch):
    real = sd._write_split

    def failing(root, split, *args):
        if split == "val":
            raise RuntimeError("boom")
        return real(root, split, *args)

    monkeypatch.setattr(sd, "_write_split", failing)
    with pytest.raises(RuntimeError, match="boom"):
        sd.generate(tmp_path / "ds", seed=0, train=2, val=1, size=96)
    assert list(tmp_path.iterdir()) == []


def test_killed_run_leaves_no_complete_dataset(tmp_path: Path):
    # A dead writer's temp dir is never taken for the dataset, and is cleaned up later.
    out = tmp_path / "ds"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f"ds.tmp-{dead}"
    (stale / "train").mkdir(parents=True)
    assert not sd.is_complete(out)
    sd.generate(out, seed=0, train=2, val=1, size=96)
    assert sd.is_complete(out) and not stale.exists()


def test_dataset_dir_is_canonical(tmp_path: Path):
    assert sd.dataset_dir(tmp_path) == tmp_path / "datasets" / f"synthetic-shapes-v{sd.VERSION}-seed0"
    assert sd.dataset_dir(tmp_path, seed=5).name.endswith("seed5")


def test_ensure_dataset_reports_failure(tmp_path: Path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named cv2' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(sd.DatasetError, match="No module named cv2"):
        sd.ensure_dataset(str(fake), tmp_path / "cache")
    assert not sd.dataset_dir(tmp_path / "cache").exists()


def test_ensure_dataset_generates_then_reuses(tmp_path: Path):
    # The real default dataset (what the demo trains on): a few seconds.
    out = sd.ensure_dataset(sys.executable, tmp_path)
    assert out == sd.dataset_dir(tmp_path)
    assert sd.read_marker(out) == sd.params_for(0)
    assert len(list((out / "train").iterdir())) == sd.DEFAULT_TRAIN
    # Reused without running anything: even a missing interpreter is fine now.
    assert sd.ensure_dataset(os.devnull, tmp_path) == out
