"""Reference runs: one parser per log format (fixtures in tests/data/references, written from the
loggers' formats by make_fixtures.py), the store, the noise threshold and the behind-reference rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import DATA
from launcher.errors import UserError
from launcher.monitor.run_follower import snapshot_of_work_dir
from launcher.monitor.reference_compare import tracker_for
from launcher.references import behind_reference, store
from launcher.references.model import Reference, loss_at
from launcher.references.sources import read_path, read_source
from launcher.references.text_log import parse_line

REFS = DATA / "references"
ZOO_JSON = REFS / "zoo" / "faster_rcnn_r50_fpn_1x_coco_20200130_204655.log.json"
MMDET2_DIR = REFS / "mmdet2_workdir"
MMDET3_LOG = REFS / "mmdet3_text" / "20240130_204655" / "20240130_204655.log"
MMENGINE_DIR = REFS / "mmengine_workdir"
ZOO_MAPS = [0.207, 0.247, 0.266, 0.279, 0.285, 0.289, 0.293, 0.296, 0.358, 0.362, 0.373, 0.374]


def _maps(ref: Reference) -> list[float]:
    return [r["bbox_mAP"] for r in ref.map_by_epoch]


def test_mmdet2_json_log_the_model_zoo_format():
    ref = read_path(ZOO_JSON, "zoo")
    assert ref.format == "mmdet2-json"
    assert _maps(ref) == ZOO_MAPS
    assert ref.map_by_epoch[0] == {"epoch": 1, "bbox_mAP": 0.207, "bbox_mAP_50": 0.321, "bbox_mAP_75": 0.224,
                                   "bbox_mAP_s": 0.118, "bbox_mAP_m": 0.228, "bbox_mAP_l": 0.265}
    assert ref.env == {"torch": "1.4.0", "cuda": "10.1", "opencv": "4.2.0", "mmcv": "0.5.9",
                       "mmdet": "2.0.0+8b7bd1c", "mmengine": None, "gpus": 8, "gpu_name": "Tesla V100-SXM2-32GB"}
    t = ref.train
    # gpu_ids = range(0, 8) and samples_per_gpu=2: the official 8 x 2 = 16 at lr 0.02.
    assert (t["lr"], t["imgs_per_gpu"], t["world_size"], t["total_batch"]) == (0.02, 2, 8, 16)
    assert (t["max_epochs"], t["milestones"], t["seed"], t["iters_per_epoch"]) == (12, [8, 11], 0, 7330)
    # The loss curve is by fraction of the schedule, falling from ~1.9 to ~0.5.
    assert 0 < ref.loss_curve[0][0] < 0.01 and 0.99 < ref.loss_curve[-1][0] <= 1.0
    assert loss_at(ref.loss_curve, 0.0) > 1.5 > 0.7 > loss_at(ref.loss_curve, 1.0)


def test_mmdet2_text_log_world_size_from_gpu_ids():
    ref = read_path(MMDET2_DIR, "four")  # a 2.x work dir holding only its text log
    assert ref.format == "mmdet2-text"
    assert len(ref.map_by_epoch) == 12 and ref.map_by_epoch[-1]["bbox_mAP"] == 0.364
    t = ref.train
    assert (t["lr"], t["imgs_per_gpu"], t["world_size"], t["total_batch"], t["iters_per_epoch"]) == \
        (0.02, 2, 4, 8, 14659)
    assert ref.env["gpus"] == 4 and ref.env["torch"] == "1.4.0" and ref.env["opencv"] == "4.2.0"
    assert ref.wall_time_s and ref.wall_time_s > 3600


def test_mmdet2_text_line_formats():
    train = parse_line("2020-01-30 20:47:31,123 - mmdet - INFO - Epoch [1][50/7330]\tlr: 1.978e-03, "
                       "eta: 1 day, 2:20:39, time: 0.457, data_time: 0.074, memory: 3706, loss_rpn_cls: 0.5639, "
                       "loss_rpn_bbox: 0.1210, loss_cls: 1.0982, acc: 86.8330, loss_bbox: 0.1280, loss: 1.9111")
    assert (train.kind, train.epoch, train.iter, train.iters_per_epoch) == ("train", 1, 50, 7330)
    assert train.values["loss"] == 1.9111 and train.values["lr"] == 1.978e-03 and "eta" not in train.values
    val = parse_line("2020-01-30 22:01:10,456 - mmdet - INFO - Epoch(val) [1][7330]\tbbox_mAP: 0.1890, "
                     "bbox_mAP_50: 0.3600, bbox_mAP_copypaste: 0.189 0.360 0.181 0.098 0.218 0.244")
    assert (val.kind, val.epoch) == ("val", 1) and val.values == {"bbox_mAP": 0.189, "bbox_mAP_50": 0.36}


def test_mmdet3_text_log():
    ref = read_path(MMDET3_LOG, "three")
    assert ref.format == "mmdet3-text"
    assert _maps(ref) == ZOO_MAPS
    assert ref.env["torch"] == "2.1.2+cu121" and ref.env["cuda"] == "12.1" and ref.env["opencv"] == "4.9.0"
    assert ref.env["mmengine"] == "0.10.3" and ref.env["gpus"] == 8
    t = ref.train
    # GPU number: 8 and train_dataloader.batch_size=2; no randomness key, so no seed
    # (the seed MMEngine logs is one it drew).
    assert (t["lr"], t["imgs_per_gpu"], t["world_size"], t["total_batch"], t["seed"]) == (0.02, 2, 8, 16, None)
    assert t["milestones"] == [8, 11] and t["iters_per_epoch"] == 7330


def test_mmengine_work_dir_every_timestamp_folder():
    ref = read_path(MMENGINE_DIR, "engine")  # stopped after epoch 3, resumed: two folders
    assert ref.format == "mmengine-workdir"
    assert [r["epoch"] for r in ref.map_by_epoch] == list(range(1, 13))
    assert ref.map_by_epoch[0]["bbox_mAP"] == pytest.approx(0.209) and ref.final["bbox_mAP"] == pytest.approx(0.376)
    assert ref.train["total_batch"] == 16 and ref.train["max_epochs"] == 12
    assert 0.99 < ref.loss_curve[-1][0] <= 1.0 and len(ref.loss_curve) <= 240


def test_bad_sources_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="not a file, a directory or a frcnn-tui job"):
        read_source(str(tmp_path / "nope"), "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no MMEngine timestamp folder"):
        read_path(tmp_path / "empty", "x")
    junk = tmp_path / "junk.log.json"
    junk.write_text("not json\n")
    with pytest.raises(UserError, match="no train or val line"):
        read_path(junk, "x")


def test_store_roundtrip_and_names():
    ref = read_path(ZOO_JSON, "zoo")
    ref.preset = "r50-fpn-1x"
    path = store.save(ref)
    assert path.parent.name == "references" and path.name == "zoo.json"
    assert store.load("zoo").to_dict() == ref.to_dict()
    assert store.default_for("r50-fpn-1x").name == "zoo"
    with pytest.raises(UserError, match="invalid reference name"):
        store.validate_name("../x")
    store.remove("zoo")
    with pytest.raises(UserError, match="no reference 'zoo'"):
        store.load("zoo")


def test_noise_threshold_default_and_from_references():
    zoo = read_path(ZOO_JSON, "zoo")
    zoo.preset = "r50-fpn-1x"
    noise, how = behind_reference.noise_threshold(zoo, [zoo])
    assert noise == behind_reference.DEFAULT_NOISE == 0.008 and "three independent" in how
    other = read_path(MMENGINE_DIR, "engine")  # the same curve +0.002 at every epoch
    other.preset = "r50-fpn-1x"
    third = Reference.from_dict(zoo.to_dict())
    third.name = "third"
    third.map_by_epoch = [dict(r, bbox_mAP=r["bbox_mAP"] - 0.003) for r in zoo.map_by_epoch]
    noise, how = behind_reference.noise_threshold(zoo, [zoo, other, third])
    assert noise == pytest.approx(0.005) and "3 references" in how
    noise, _ = behind_reference.noise_threshold(zoo, [zoo, Reference.from_dict(dict(zoo.to_dict(), name="copy"))])
    assert noise == behind_reference.MIN_NOISE  # identical references: the floor, not zero


def test_behind_needs_two_evaluations_in_a_row_and_names_causes():
    zoo = read_path(ZOO_JSON, "zoo")
    run = [{"epoch": e, "bbox_mAP": v} for e, v in [(1, 0.190), (2, 0.246), (3, 0.250), (4, 0.260)]]
    # Epoch 1 behind, epoch 2 within the noise, then 3 and 4 behind: fires at epoch 4.
    assert behind_reference.behind_streak(run[:3], zoo, 0.008) == []
    alert = behind_reference.behind_alert(run, zoo, 0.008, {"train": {"lr": 0.02, "total_batch": 8, "seed": None},
                                                  "env": {"opencv": "4.9.0", "torch": "1.4.0"}})
    assert alert["kind"] == "behind-reference" and alert["epoch"] == 4
    causes = " | ".join(alert["causes"])
    assert "lr per image 0.0025" in causes and "2x" in causes and "lr 0.01" in causes
    assert "total batch 8 vs the reference's 16" in causes and "OpenCV 4.9.0" in causes and "no seed" in causes
    assert "PyTorch" not in causes
    assert behind_reference.comparison(run, zoo, 0.008) == {"name": "zoo", "epoch": 4, "run": 0.26, "reference": 0.279,
                                                   "delta": -0.019, "noise": 0.008, "behind": True}


def test_live_tracker_on_a_2x_work_dir(tmp_path):
    """watch --work-dir on a 2.x work dir: its data (not 'waiting') and, against the zoo log,
    behind-reference from epoch 2 with the doubled lr per image named."""
    ref = read_path(ZOO_JSON, "zoo")
    ref.preset = "r50-fpn-1x"
    store.save(ref)
    work = tmp_path / "w"
    shutil.copytree(MMDET2_DIR, work)
    snap = snapshot_of_work_dir(work, series=True)
    assert snap["status"] == "finished" and len(snap["map_by_epoch"]) == 12
    assert snap["progress"]["iters_per_epoch"] == 14659 and "loss" in snap["series"]
    tracker = tracker_for(work, "zoo", None)
    tracker.apply(snap)
    r = snap["reference"]
    assert (r["name"], r["epoch"], r["run"], r["reference"], r["delta"]) == ("zoo", 12, 0.364, 0.374, -0.01)
    alert = [a for a in snap["alerts"] if a["kind"] == "behind-reference"][0]
    assert alert["epoch"] == 2 and "lr per image 0.0025" in alert["message"]
    # The reference loss lands on this run's iteration axis by fraction of the schedule.
    total = snap["progress"]["total_iters"]
    assert 0.99 * total < r["loss_curve"][-1][0] <= total and r["loss_curve"][0][0] < total * 0.01


def test_a_2x_text_log_is_followed_as_it_grows(tmp_path):
    from launcher.monitor.metrics import JobMetrics
    from launcher.monitor.run_follower import catch_up
    from launcher.monitor.workdir import WorkDirTailer

    src = (MMDET2_DIR / "20221012_101500.log").read_text().splitlines(keepends=True)
    first_val = next(i for i, line in enumerate(src) if "Epoch(val) [1]" in line)
    log = tmp_path / "20221012_101500.log"
    log.write_text("".join(src[:first_val]))
    tailer, metrics = WorkDirTailer(tmp_path), JobMetrics()
    catch_up(tailer, metrics)
    snap = metrics.snapshot()
    assert snap["status"] == "running" and snap["map_by_epoch"] == [] and snap["progress"]["epoch"] == 1
    with open(log, "a") as fh:
        fh.write("".join(src[first_val:first_val + 1]))
    catch_up(tailer, metrics)
    assert [r["epoch"] for r in metrics.snapshot()["map_by_epoch"]] == [1]


def test_a_work_dir_holding_only_a_2x_json_log_is_watched_and_followed(tmp_path, cli):
    """The model zoo publishes the .log.json alone: watch shows its mAP and loss, live too."""
    lines = ZOO_JSON.read_text().splitlines(keepends=True)
    ref = read_path(ZOO_JSON, "zoo")
    work = tmp_path / "zoo"
    work.mkdir()
    log = work / ZOO_JSON.name
    first_val = next(i for i, line in enumerate(lines) if '"mode": "val"' in line)
    log.write_text("".join(lines[:first_val]))
    from launcher.monitor.metrics import JobMetrics
    from launcher.monitor.run_follower import catch_up
    from launcher.monitor.workdir import WorkDirTailer

    tailer, metrics = WorkDirTailer(work), JobMetrics()
    catch_up(tailer, metrics)
    snap = metrics.snapshot(series=True)
    assert snap["map_by_epoch"] == [] and snap["series"]["loss"]
    with open(log, "a") as fh:  # the rest of the run arrives
        fh.write("".join(lines[first_val:]))
    catch_up(tailer, metrics)
    assert [r["epoch"] for r in metrics.snapshot()["map_by_epoch"]] == [r["epoch"] for r in ref.map_by_epoch]
    out = cli("watch", "--work-dir", str(work), "--once", "--json")
    assert out.returncode == 0, out.stderr
    snap = json.loads(out.stdout)
    assert [r["bbox_mAP"] for r in snap["map_by_epoch"]] == [r["bbox_mAP"] for r in ref.map_by_epoch]
    # Steps run on across epochs: the last train line lands after 11 epochs of ~7,300 iterations;
    # the schedule comes from the config in the log's first line.
    assert snap["progress"]["global_iter"] > 11 * 7000 and snap["progress"]["max_epochs"] == 12
    assert snap["status"] == "finished"
    # With the text log beside it, the text log is followed and the JSON log is not.
    (work / "20200130_204655.log").write_text("")
    tailer = WorkDirTailer(work)
    tailer.poll()
    assert {type(f).__name__ for f in tailer.followed_files()} == {"Mmdet2TextLog"}


def test_job_reference_recorded_in_plan_wins_over_the_preset_default(tmp_path):
    zoo = read_path(ZOO_JSON, "zoo")
    zoo.preset = "r50-fpn-1x"
    store.save(zoo)
    other = read_path(MMENGINE_DIR, "engine")
    other.preset = "r50-fpn-1x"
    store.save(other)  # newer: the preset's default
    run = tmp_path / "run"
    run.mkdir()
    (run / "plan.json").write_text(json.dumps({"preset": "r50-fpn-1x"}))
    assert tracker_for(run, None, "r50-fpn-1x").ref.name == "engine"
    store.record_for_job(run, "zoo")
    assert tracker_for(run, None, "r50-fpn-1x").ref.name == "zoo"
    store.remove("zoo")  # removed since the launch: back to the preset's
    assert tracker_for(run, None, "r50-fpn-1x").ref.name == "engine"
    with pytest.raises(UserError, match="no reference 'zoo'"):
        tracker_for(run, "zoo", "r50-fpn-1x")
