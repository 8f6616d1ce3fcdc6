"""`frcnn-tui data check` and `plan --data`: layouts, what mmdet would make of the data, bad input.

The data are the project's own synthetic shapes (launcher/stack/synthetic_data.py), re-laid out as
each layout writes them (tests/data_helpers.py); every command is the real CLI in its own process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from data_helpers import class_names, edit_annotations, roboflow_from
from training_helpers import make_tiny_dataset


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("shapes"))


@pytest.fixture
def roboflow(shapes, tmp_path) -> Path:
    return roboflow_from(shapes, tmp_path / "my export")


def check_json(*args: str) -> tuple[int, dict]:
    result = run_cli("data", "check", *args, "--json")
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_roboflow_export_is_read_as_mmdet_would(roboflow):
    code, report = check_json(str(roboflow))
    assert code == 0 and report["layout"] == "roboflow"
    # The export lists its categories 0 (parent), 12, 3, 7: mmdet's labels follow the file's order
    # (pycocotools' getCatIds), not the ids, and the parent without annotations is no class.
    assert report["classes"] == class_names(roboflow) == ["triangle", "ellipse", "rectangle"]
    assert [(c["label"], c["id"]) for c in report["categories"]] == [(0, 12), (1, 3), (2, 7)]
    train, val = report["splits"]["train"], report["splits"]["val"]
    assert (train["images"], val["images"]) == (16, 8)
    assert train["ann_file"] == str(roboflow / "train" / "_annotations.coco.json")
    assert val["img_dir"] == str(roboflow / "valid")
    assert sum(c["train_instances"] for c in report["categories"]) == train["annotations"]
    assert train["image_size"]["width"] == [128, 128, 128]
    assert abs(sum(train["box_sizes"].values()) - 1) < 1e-3
    [parent] = report["problems"]
    assert parent["level"] == "warn" and parent["count"] == 1 and "shapes-project (id 0)" in parent["examples"][0]
    text = run_cli("data", "check", str(roboflow))
    assert text.returncode == 0 and "triangle" in text.stdout and "left out of the classes" in text.stdout


def _annotations_layout(shapes: Path, root: Path, split_dirs: bool) -> Path:
    (root / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        shutil.copyfile(shapes / "annotations" / f"instances_{split}.json", root / "annotations" / f"{split}.json")
        shutil.copytree(shapes / split, root / split if split_dirs else root / "images", dirs_exist_ok=True)
    return root


def test_each_layout_is_detected(shapes, tmp_path):
    _, coco = check_json(str(shapes))  # COCO's own: annotations/instances_train*.json + train*/
    assert coco["layout"] == "coco" and coco["splits"]["train"]["img_dir"] == str(shapes / "train")
    flat = _annotations_layout(shapes, tmp_path / "flat", split_dirs=False)
    _, report = check_json(str(flat))
    assert report["layout"] == "annotations"
    assert report["splits"]["val"] == {**report["splits"]["val"], "ann_file": str(flat / "annotations" / "val.json"),
                                       "img_dir": str(flat / "images")}
    split = _annotations_layout(shapes, tmp_path / "split", split_dirs=True)
    assert check_json(str(split))[1]["splits"]["val"]["img_dir"] == str(split / "val")
    code, explicit = check_json("--train-ann", str(flat / "annotations" / "train.json"), "--train-images",
                                str(flat / "images"), "--val-ann", str(shapes / "annotations" / "instances_val.json"),
                                "--val-images", str(shapes / "val"))
    assert code == 0 and explicit["layout"] == "explicit" and explicit["classes"] == coco["classes"]


def _tree(*roots: Path) -> dict[str, bytes]:
    """Every file and folder under ROOTS; the preset cache (a parse cache, not anything of the user's) aside."""
    return {str(p): p.read_bytes() if p.is_file() else b"<dir>" for root in roots if root.exists()
            for p in sorted(root.rglob("*")) if "presets.marshal" not in p.name and p.name != "cache"}


def _no_layout(root: Path) -> None:
    (root / "train" / "_annotations.coco.json").rename(root / "train" / "labels.json")
    shutil.rmtree(root / "valid")
    shutil.rmtree(root / "test")


BAD = {
    "no layout": _no_layout,
    "not JSON": lambda r: (r / "train" / "_annotations.coco.json").write_text("images: [1, 2]\n"),
    "one byte": lambda r: (r / "valid" / "_annotations.coco.json").write_bytes(b"{"),
    "a JSON list": lambda r: (r / "train" / "_annotations.coco.json").write_text("[1, 2]"),
    "no images list": lambda r: edit_annotations(r / "valid" / "_annotations.coco.json", lambda c: c.pop("images")),
    "a bbox that is no box": lambda r: edit_annotations(
        r / "train" / "_annotations.coco.json", lambda c: c["annotations"][0].update(bbox="10,10,5,5")),
    "a folder for a file": lambda r: (r / "valid" / "_annotations.coco.json").unlink()
    or (r / "valid" / "_annotations.coco.json").mkdir(),
    "val missing": lambda r: shutil.rmtree(r / "valid"),
    "a width that is text": lambda r: edit_annotations(
        r / "valid" / "_annotations.coco.json", lambda c: c["images"][2].update(width="128")),
}
EXPECTED = {"no layout": "no known dataset layout (looked for COCO's annotations/instances_{train,val}*.json",
            "not JSON": "is not JSON", "one byte": "is not JSON", "a JSON list": "is not a COCO detection file",
            "no images list": "no 'images' list", "a bbox that is no box": "annotations[0] lacks",
            "a folder for a file": "is a folder", "val missing": "is missing",
            "a width that is text": "images[2] needs an id, a file_name and a numeric width and height"}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(roboflow, frcnn_home, case):
    BAD[case](roboflow)
    before = _tree(roboflow, frcnn_home)
    for argv in (["data", "check", str(roboflow)], ["plan", "--preset", "demo-cpu", "--cpu", "--data", str(roboflow)]):
        result = run_cli(*argv)
        assert result.returncode == 2, (case, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and EXPECTED[case] in result.stderr, result.stderr
    assert _tree(roboflow, frcnn_home) == before


def test_explicit_paths_bad_input(shapes, tmp_path):
    flags = ["--train-ann", str(shapes / "annotations" / "instances_train.json"), "--train-images", str(shapes / "train"),
             "--val-ann", str(shapes / "annotations" / "instances_val.json"), "--val-images", str(tmp_path / "nope")]
    for argv, expected in ((flags, "--val-images"), (flags[:4], "missing --val-ann --val-images"),
                           (["--data", str(shapes), *flags[:2]], "not both")):
        result = run_cli("plan", "--preset", "demo-cpu", "--cpu", *argv)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    result = run_cli("data", "check", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "no such dataset folder" in result.stderr


def _problems(report: dict, level: str) -> list[str]:
    return [p["message"] for p in report["problems"] if p["level"] == level]


def test_val_classes_that_differ_fail(roboflow):
    val = roboflow / "valid" / "_annotations.coco.json"
    edit_annotations(val, lambda c: c["categories"][1].update(name="Triangle"))
    code, report = check_json(str(roboflow))
    assert code == 1 and report["status"] == "fail"
    assert any("'triangle' is 'Triangle' in val" in m for m in _problems(report, "fail")), report["problems"]
    edit_annotations(val, lambda c: c["categories"][1].update(name="triangle", id=99))
    edit_annotations(val, lambda c: [a.update(category_id=99) for a in c["annotations"] if a["category_id"] == 12])
    code, report = check_json(str(roboflow))
    assert code == 1 and any("'triangle' is id 12 in train, 99 in val" in m for m in _problems(report, "fail"))


def test_val_listing_the_classes_in_another_order_fails(roboflow):
    edit_annotations(roboflow / "valid" / "_annotations.coco.json",
                     lambda c: c.update(categories=[c["categories"][0], *reversed(c["categories"][1:])]))
    code, report = check_json(str(roboflow))
    assert code == 1 and any("another order" in m for m in _problems(report, "fail"))


def test_silently_dropped_boxes_and_missing_files_are_counted(roboflow):
    train = roboflow / "train" / "_annotations.coco.json"
    images = json.loads(train.read_text())["images"]

    def spoil(coco):
        anns = coco["annotations"]
        anns[0].update(bbox=[10, 10, 0.5, 20])  # under 1 px wide
        anns[1].update(area=0)
        anns[2].update(bbox=[500, 500, 10, 10])  # outside its 128 px image
        anns[3].update(category_id=42)
        coco["images"][1]["id"] = coco["images"][0]["id"]

    edit_annotations(train, spoil)
    (roboflow / "train" / images[5]["file_name"]).unlink()
    code, report = check_json(str(roboflow))
    assert code == 1
    warns, fails = _problems(report, "warn"), _problems(report, "fail")
    assert any(m.startswith("train: 2 boxes with zero area") for m in warns), warns
    assert any(m.startswith("train: 1 boxes outside their image") for m in warns), warns
    assert any("1 annotations name a category that is not among" in m for m in fails), fails
    assert any("1 duplicate image ids" in m for m in fails), fails
    missing = next(p for p in report["problems"] if "image files missing" in p["message"])
    assert missing["count"] == 1 and missing["examples"] == [images[5]["file_name"]]


def test_nothing_to_train_on_fails(roboflow):
    edit_annotations(roboflow / "train" / "_annotations.coco.json",
                     lambda c: [a.update(bbox=[0, 0, 0, 0]) for a in c["annotations"]])
    code, report = check_json(str(roboflow))
    assert code == 1 and any(m.startswith("nothing to train on") for m in _problems(report, "fail"))


def test_plan_sets_the_config_from_the_data(roboflow):
    result = run_cli("plan", "--preset", "demo-cpu", "--cpu", "--seed", "0", "--data", str(roboflow), "--json")
    assert result.returncode in (0, 1), result.stderr
    plan = json.loads(result.stdout)
    resolved = plan["resolved"]
    assert resolved["classes"] == ["triangle", "ellipse", "rectangle"] and resolved["num_classes"] == 3
    assert resolved["evaluator"]["classwise"] is True
    assert resolved["evaluator"]["ann_file"] == str(roboflow / "valid" / "_annotations.coco.json")
    for split, folder in (("train", "train"), ("val", "valid"), ("test", "test")):
        assert resolved[split]["ann_file"] == str(roboflow / folder / "_annotations.coco.json")
        assert resolved[split]["img_dir"].rstrip("/") == str(roboflow / folder)
    checks = {c["id"]: c for c in plan["checklist"]}
    assert checks["eval"]["status"] == "pass" and checks["data"]["status"] == "pass"
    # demo-cpu's 50 warmup iterations are 12.5 epochs of 16 images at batch 4; 24 epochs are 96 iterations.
    assert checks["dataset"]["status"] == "warn"
    assert "warmup 50 iterations is 12.5 epochs" in checks["dataset"]["detail"]
    assert "param_scheduler.0.end=4" in checks["dataset"]["hint"]
    text = run_cli("plan", "--preset", "demo-cpu", "--cpu", "--data", str(roboflow))
    assert "dataset   3 classes: triangle, ellipse, rectangle; box head num_classes 3" in text.stdout, text.stdout
    short = run_cli("plan", "--preset", "demo-cpu", "--cpu", "--data", str(roboflow), "--json", "--cfg-options",
                    "param_scheduler.0.end=4")
    detail = {c["id"]: c for c in json.loads(short.stdout)["checklist"]}["dataset"]["detail"]
    assert "the schedule is 96 iterations (24 epochs" in detail, detail


def test_plan_with_a_val_file_from_elsewhere_fails_before_launch(roboflow, tmp_path):
    """What a user writes by hand: the val annotation path swapped for a file whose classes differ."""
    other = tmp_path / "val_renamed.json"
    shutil.copyfile(roboflow / "valid" / "_annotations.coco.json", other)
    edit_annotations(other, lambda c: c["categories"][2].update(name="Ellipse"))
    flags = ["--train-ann", str(roboflow / "train" / "_annotations.coco.json"), "--train-images",
             str(roboflow / "train"), "--val-ann", str(other), "--val-images", str(roboflow / "valid")]
    result = run_cli("launch", "--preset", "demo-cpu", "--cpu", *flags, "--json")
    assert result.returncode == 1, result.stderr
    assert "'ellipse' is 'Ellipse' in val" in result.stderr + result.stdout
    assert run_cli("jobs", "--json").stdout.count('"id"') == 0


def test_save_preset_makes_the_next_plan_one_word(roboflow, frcnn_home):
    result = run_cli("data", "check", str(roboflow), "--save-preset", "my-shapes", "--base", "demo-cpu")
    assert result.returncode == 0, result.stderr
    saved = frcnn_home / "config" / "presets" / "my-shapes.toml"
    assert f"saved preset my-shapes ({saved})" in result.stdout
    presets = {p["name"]: p for p in json.loads(run_cli("presets", "--json").stdout)["presets"]}
    mine = presets["my-shapes"]
    assert mine["data"] == str(roboflow) and mine["base_lr"] == presets["demo-cpu"]["base_lr"]
    assert mine["reference_ap"] is None  # the demo's AP on its own shapes says nothing about this data
    plan = run_cli("plan", "--preset", "my-shapes", "--cpu", "--json")
    assert plan.returncode in (0, 1), plan.stderr
    resolved = json.loads(plan.stdout)["resolved"]
    assert resolved["classes"] == ["triangle", "ellipse", "rectangle"] and resolved["num_classes"] == 3
    # Never over what exists; not from four loose files; not for data that fails its check.
    before = saved.read_bytes()
    again = run_cli("data", "check", str(roboflow), "--save-preset", "my-shapes", "--base", "demo-cpu")
    assert again.returncode == 2 and "a preset named my-shapes exists" in again.stderr
    assert saved.read_bytes() == before
    loose = run_cli("data", "check", "--train-ann", str(roboflow / "train" / "_annotations.coco.json"),
                    "--train-images", str(roboflow / "train"), "--val-ann",
                    str(roboflow / "valid" / "_annotations.coco.json"), "--val-images", str(roboflow / "valid"),
                    "--save-preset", "loose")
    assert loose.returncode == 2 and "needs a dataset folder" in loose.stderr
    edit_annotations(roboflow / "valid" / "_annotations.coco.json", lambda c: c["categories"][1].update(name="x"))
    failing = run_cli("data", "check", str(roboflow), "--save-preset", "broken")
    assert failing.returncode == 2 and "fix the data" in failing.stderr
    assert sorted(p.name for p in saved.parent.iterdir()) == ["my-shapes.toml"]


def test_preview_draws_the_boxes_on_a_png_grid(roboflow, tmp_path):
    import cv2

    out = tmp_path / "previews"
    result = run_cli("data", "preview", str(roboflow), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    drawn = json.loads(result.stdout)
    val = json.loads((roboflow / "valid" / "_annotations.coco.json").read_text())
    assert (drawn["images"], drawn["boxes"], drawn["split"]) == (8, len(val["annotations"]), "val")
    grid = cv2.imread(drawn["png"])
    assert drawn["png"] == str(out / "data-preview-val.png") and grid.shape == (3 * 256, 3 * 256, 3)  # 8 in 3x3
    # The first image's first box, in its class's colour, where the box's left edge is (128 px images at 2x).
    first = val["annotations"][0]
    assert first["image_id"] == val["images"][0]["id"]
    x, y, w, h = (round(2 * v) for v in first["bbox"])
    plain = cv2.resize(cv2.imread(str(roboflow / "valid" / val["images"][0]["file_name"])), (256, 256),
                       interpolation=cv2.INTER_AREA)
    edge = grid[y + h // 2, x]
    assert abs(edge.astype(int) - plain[y + h // 2, x].astype(int)).sum() > 60, (edge, plain[y + h // 2, x])
    train = run_cli("data", "preview", str(roboflow), "-o", str(out), "--split", "train", "--n", "4")
    assert train.returncode == 0 and "4 train images" in train.stdout, train.stderr
    for argv, expected in ((["--n", "0"], "--n must be between 1 and 400"),
                           (["-o", str(roboflow / "train" / "_annotations.coco.json")], "cannot write the preview")):
        bad = run_cli("data", "preview", str(roboflow), *argv)
        assert bad.returncode == 2 and expected in bad.stderr and len(bad.stderr.splitlines()) == 1, bad.stderr
    (roboflow / "test" / "_annotations.coco.json").write_text("[]")
    bad = run_cli("data", "preview", str(roboflow), "--split", "test", "-o", str(tmp_path / "never"))
    assert bad.returncode == 2 and "is not a COCO detection file" in bad.stderr and not (tmp_path / "never").exists()


def test_slurm_script_runs_the_config_set_from_the_data(roboflow, tmp_path):
    run_dir = tmp_path / "slurm-run"
    result = run_cli("slurm", "--preset", "demo-cpu", "--partition", "debug", "--cpu", "--nproc", "2", "--data",
                     str(roboflow), "--force", "--work-dir", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert (run_dir / "slurm.sh").is_file()
    config = (run_dir / "config.py").read_text()
    assert config.count("classwise=True") == 2 and "num_classes=3" in config and "'rectangle'" in config
    assert str(roboflow / "valid" / "_annotations.coco.json") in config
    assert json.loads((run_dir / "plan.json").read_text())["resolved"]["classes"] == ["triangle", "ellipse", "rectangle"]


def test_val_boxes_of_a_category_train_never_labels_are_said_not_evaluated(roboflow):
    def relabel(coco):
        coco["categories"].append({"id": 20, "name": "star", "supercategory": "shapes-project"})
        coco["annotations"][0]["category_id"] = 20

    edit_annotations(roboflow / "valid" / "_annotations.coco.json", relabel)
    code, report = check_json(str(roboflow))
    assert code == 0 and report["classes"] == ["triangle", "ellipse", "rectangle"]
    [warn] = [p for p in report["problems"] if p["message"].startswith("val: 1 annotations of categories train")]
    assert warn["level"] == "warn" and "not evaluated" in warn["message"]
