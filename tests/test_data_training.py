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


def test_roboflow_export_trains_to_per_class_ap(export):
    from mmengine.config import Config

    classes = class_names(export)
    assert classes == ["triangle", "ellipse", "rectangle"]  # the file's order (ids 12, 3, 7), not the ids'
    job = launch(*tiny_launch_args(export, epochs=EPOCHS, imgs_per_gpu=2, warmup_iters=10,
                                   cfg_options=("custom_hooks=[]",), data_flag="--data"))
    run_dir = Path(job["run_dir"])
    resolved = job["plan"]["resolved"]
    assert resolved["classes"] == classes and resolved["num_classes"] == 3
    assert wait_done(job["id"], timeout=900) == "succeeded", explain(run_dir)

    cfg = Config.fromfile(str(run_dir / "config.py"))  # what ran
    for split, folder in (("train", "train"), ("val", "valid"), ("test", "test")):
        ds = cfg[f"{split}_dataloader"]["dataset"]
        assert list(ds["metainfo"]["classes"]) == classes
        assert ds["ann_file"] == str(export / folder / "_annotations.coco.json")
    assert cfg.model.roi_head.bbox_head.num_classes == 3
    assert cfg.val_evaluator.classwise and cfg.val_evaluator.ann_file == str(export / "valid" / "_annotations.coco.json")

    result = run_cli("watch", job["id"], "--once", "--json")
    assert result.returncode == 0, result.stderr
    snap = json.loads(result.stdout)
    final = snap["map_by_epoch"][-1]
    print(f"\nbbox mAP by epoch {[m['bbox_mAP'] for m in snap['map_by_epoch']]}; per class {snap['per_class']}")
    assert final["epoch"] == EPOCHS and final["bbox_mAP"] > 0.02
    assert sorted(snap["per_class"]) == sorted(classes) and all(ap > 0 for ap in snap["per_class"].values())

    report = run_cli("report", job["id"], "--json")
    assert report.returncode == 0, report.stderr
    md = (run_dir / "report" / "report.md").read_text()
    assert "## Per-class AP" in md and all(f"| {name} | " in md for name in classes)
