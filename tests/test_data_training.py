"""Your own data, trained for real: a Roboflow-style export (non-contiguous category ids listed out of
id order, a parent category without annotations, file names with spaces) made from the synthetic
shapes, launched with `launch --data`, reaches a non-zero bbox mAP with per-class AP for every class.
Real torchrun, 2 gloo workers, the demo's model. The same data with a hand-edited val file is caught
before launch: tests/test_data_check.py::test_plan_with_a_val_file_from_elsewhere_fails_before_launch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from data_helpers import class_names, roboflow_from
from training_helpers import explain, launch, make_tiny_dataset, needs_stack, tiny_launch_args, wait_done

pytestmark = [needs_stack, pytest.mark.training]

# The recipe tests/test_reproduction_training.py measured to learn within 4 short epochs on CPU
# (bbox mAP 0.165 at epoch 4): 96 train images, total batch 4, a 10-iteration warmup, no EMA.
DATA = dict(train=96, val=16, size=128)
EPOCHS = 4


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    shapes = make_tiny_dataset(tmp_path_factory.mktemp("shapes"), **DATA)
    return roboflow_from(shapes, tmp_path_factory.mktemp("exports") / "my shapes export")


@pytest.fixture(scope="module")
def trained(export, tmp_path_factory) -> dict:
    """`launch --data` on the export, run to its end (one training for every test here). Its own
    FRCNN_TUI_HOME: a module's fixture comes before each test's (conftest.frcnn_home), so the tests
    reach the job with env=job_env(...)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FRCNN_TUI_HOME", str(home))
        job = launch(*tiny_launch_args(export, epochs=EPOCHS, imgs_per_gpu=2, warmup_iters=10,
                                       cfg_options=("custom_hooks=[]",), data_flag="--data"))
        try:
            status = wait_done(job["id"], timeout=900)
        finally:
            run_cli("stop", job["id"], "--grace", "5")  # nothing to signal once it has ended
        assert status == "succeeded", explain(Path(job["run_dir"]))
    return dict(job, home=str(home))


def job_env(job: dict) -> dict:
    return {"FRCNN_TUI_HOME": job["home"]}


def test_roboflow_export_trains_to_per_class_ap(export, trained):
    from mmengine.config import Config

    classes = class_names(export)
    assert classes == ["triangle", "ellipse", "rectangle"]  # the file's order (ids 12, 3, 7), not the ids'
    job = trained
    run_dir = Path(job["run_dir"])
    resolved = job["plan"]["resolved"]
    assert resolved["classes"] == classes and resolved["num_classes"] == 3

    cfg = Config.fromfile(str(run_dir / "config.py"))  # what ran
    for split, folder in (("train", "train"), ("val", "valid"), ("test", "test")):
        ds = cfg[f"{split}_dataloader"]["dataset"]
        assert list(ds["metainfo"]["classes"]) == classes
        assert ds["ann_file"] == str(export / folder / "_annotations.coco.json")
    assert cfg.model.roi_head.bbox_head.num_classes == 3
    assert cfg.val_evaluator.classwise and cfg.val_evaluator.ann_file == str(export / "valid" / "_annotations.coco.json")

    result = run_cli("watch", job["id"], "--once", "--json", env=job_env(job))
    assert result.returncode == 0, result.stderr
    snap = json.loads(result.stdout)
    final = snap["map_by_epoch"][-1]
    print(f"\nbbox mAP by epoch {[m['bbox_mAP'] for m in snap['map_by_epoch']]}; per class {snap['per_class']}")
    assert final["epoch"] == EPOCHS and final["bbox_mAP"] > 0.02
    assert sorted(snap["per_class"]) == sorted(classes) and all(ap > 0 for ap in snap["per_class"].values())

    report = run_cli("report", job["id"], "--json", env=job_env(job))
    assert report.returncode == 0, report.stderr
    md = (run_dir / "report" / "report.md").read_text()
    assert "## Per-class AP" in md and all(f"| {name} | " in md for name in classes)


def test_fine_tuning_from_a_checkpoint_says_which_layers_start_fresh(export, trained, tmp_path):
    """--load-from a published checkpoint (state_dict and meta, as mmdet's model zoo publishes them) of the run
    above: on the same 3 classes all of it loads; on a 2-class copy of the data the box head's class-dependent
    layers start fresh."""
    import shutil

    import torch

    from data_helpers import edit_annotations

    raw = Path(trained["run_dir"]) / f"epoch_{EPOCHS}.pth"
    ckpt = torch.load(raw, map_location="cpu", weights_only=False)  # our own file: trusted
    published = tmp_path / "shapes_faster_rcnn.pth"
    torch.save({"state_dict": ckpt["state_dict"], "meta": {"epoch": ckpt["meta"]["epoch"]}}, published)

    def load_from_check(data: Path) -> dict:
        result = run_cli("plan", "--preset", "demo-cpu", "--cpu", "--data", str(data), "--load-from", str(published),
                         "--json")
        assert result.returncode in (0, 1), result.stderr
        plan = json.loads(result.stdout)
        checks = {c["id"]: c for c in plan["checklist"]}
        assert checks["weights"]["status"] == "pass", checks["weights"]  # the file is there
        return checks["load-from"]

    same = load_from_check(export)
    assert same["status"] == "pass" and "same 3 classes, the whole model is loaded" in same["detail"], same
    two = tmp_path / "two classes"
    shutil.copytree(export, two)
    for split in ("train", "valid", "test"):
        edit_annotations(two / split / "_annotations.coco.json", lambda c: c.update(
            categories=[k for k in c["categories"] if k["name"] != "rectangle"],
            annotations=[a for a in c["annotations"] if a["category_id"] != 7]))
    fresh = load_from_check(two)
    assert "(3 classes): the box head's classifier and box regressor start fresh for 2 classes" in fresh["detail"]
    # The training checkpoint itself holds the optimizer and MMEngine's state: torch's safe loader, which
    # MMEngine's load_checkpoint uses too, refuses it, so the plan fails before any rank would.
    result = run_cli("plan", "--preset", "demo-cpu", "--cpu", "--data", str(export), "--load-from", str(raw), "--json")
    refused = {c["id"]: c for c in json.loads(result.stdout)["checklist"]}["load-from"]
    assert result.returncode == 1 and refused["status"] == "fail", refused
    assert "safe loader refuses it" in refused["detail"] and "weights_only=False" in refused["hint"]
    missing = run_cli("plan", "--preset", "demo-cpu", "--cpu", "--load-from", str(tmp_path / "nope.pth"))
    assert missing.returncode == 2 and "--load-from" in missing.stderr and len(missing.stderr.splitlines()) == 1
