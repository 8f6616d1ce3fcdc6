"""`reference add|list|show|rm`, `watch --reference`, `report` and `compare` as a user runs them
(real processes; the finished jobs are registry entries over copies of the format fixtures,
the real-training path is tests/test_reproduction_training.py)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA
from launcher.jobs import registry
from launcher.jobs.registry import JobRecord
from launcher.references.report import _plan_lines

REFS = DATA / "references"
ZOO_JSON = REFS / "zoo" / "faster_rcnn_r50_fpn_1x_coco_20200130_204655.log.json"
MMDET3_LOG = REFS / "mmdet3_text" / "20240130_204655" / "20240130_204655.log"
ZOO_URL = ("https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r50_fpn_1x_coco/"
           "faster_rcnn_r50_fpn_1x_coco_20200130_204655.log.json")
SHOW_FIELDS = {"name", "source", "format", "env", "train", "map_by_epoch", "loss_curve"}


def _json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _finished_job(tmp_path: Path, job_id: str, source: Path, *, world: int, lr: float) -> JobRecord:
    """A finished job as the registry keeps one: its run dir holds an MMEngine work dir and
    the plan.json a launch writes (the fields report and compare read)."""
    run = tmp_path / job_id
    shutil.copytree(source, run)
    plan = {"preset": "r50-fpn-1x", "lr": lr, "base_lr": 0.02, "base_batch_size": 16, "nodes": 1,
            "gpus_per_node": world, "imgs_per_gpu": 2, "world_size": world, "total_batch": world * 2,
            "rule": "linear", "formula": f"0.02 × (1×{world}×2)/16 = {0.02 * world * 2 / 16:g}", "warmup_iters": 500,
            "epochs": 12, "milestones": [8, 11], "seed": None, "cpu": False, "gpu_ids": list(range(world)),
            "versions": {"torch": "2.1.2+cu121", "cv2": "4.9.0", "mmcv": "2.1.0", "mmdet": "3.3.0",
                         "mmengine": "0.10.3", "cuda_build": "12.1"},
            "checklist": [{"id": "lr", "status": "pass", "detail": "lr as the linear rule", "hint": ""},
                          {"id": "seed", "status": "warn", "detail": "no randomness.seed", "hint": "--seed 0"}]}
    (run / "plan.json").write_text(json.dumps(plan))
    (run / registry.EXIT_FILE).write_text("0\n")
    record = JobRecord(id=job_id, name=job_id, preset="r50-fpn-1x", run_dir=str(run), gpu_ids=list(range(world)),
                       cpu=False, nproc_per_node=world, nodes=1, pid=1, pgid=1, create_time=0.0,
                       started_at=time.time(), port=29500, command=["true"], python=sys.executable,
                       reference_ap=37.4, max_epochs=12)
    registry.save(record)
    return record


def test_reference_add_list_show_rm(cli, tmp_path):
    added = _json(cli("reference", "add", "zoo-r50", str(ZOO_JSON), "--preset", "r50-fpn-1x", "--json"))
    assert added["format"] == "mmdet2-json" and Path(added["path"]).name == "zoo-r50.json"
    assert "added reference three (mmdet3-text)" in cli("reference", "add", "three", str(MMDET3_LOG)).stdout
    listed = _json(cli("reference", "list", "--json"))
    assert [r["name"] for r in listed["references"]] == ["zoo-r50", "three"]
    assert listed["references"][0]["reference_log_url"] == ZOO_URL
    # Presets with an official log and no reference are named with the log's URL (never downloaded).
    assert any(m["preset"] == "r50-fpn-2x" and m["reference_log_url"].endswith("_20200504_210434.log.json")
               for m in listed["presets_without_reference"])
    shown = _json(cli("reference", "show", "zoo-r50", "--json"))
    assert SHOW_FIELDS <= set(shown)
    assert set(shown["env"]) >= {"torch", "cuda", "opencv", "mmcv", "mmdet", "gpus", "gpu_name"}
    assert {k: shown["train"][k] for k in (
        "lr", "imgs_per_gpu", "world_size", "total_batch", "max_epochs", "milestones", "seed")} == {
        "lr": 0.02, "imgs_per_gpu": 2, "world_size": 8, "total_batch": 16, "max_epochs": 12, "milestones": [8, 11],
        "seed": 0}
    assert shown["map_by_epoch"][0]["bbox_mAP"] == 0.207 and set(shown["map_by_epoch"][0]) >= {
        "epoch", "bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l"}
    assert shown["noise"] == 0.008 and shown["reference_log_url"] == ZOO_URL
    text = cli("reference", "show", "zoo-r50").stdout
    assert "noise threshold 0.008" in text and "official log: " + ZOO_URL in text
    again = cli("reference", "add", "zoo-r50", str(ZOO_JSON))
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "exists" in again.stderr
    assert _json(cli("reference", "rm", "three", "--json"))["removed"] == "three"
    missing = cli("reference", "show", "three")
    assert missing.returncode == 2 and "no reference 'three'" in missing.stderr and "Traceback" not in missing.stderr
    bad = cli("reference", "add", "x", str(tmp_path / "nothing-here"))
    assert bad.returncode == 2 and "not a file, a directory or a frcnn-tui job" in bad.stderr
    assert cli("reference", "add", "x", str(ZOO_JSON), "--preset", "nope").returncode == 2


def test_reference_from_a_job_by_name(cli, tmp_path):
    _finished_job(tmp_path, "eight-gpus", REFS / "mmengine_workdir", world=8, lr=0.02)
    ref = _json(cli("reference", "add", "mine", "eight-gpus", "--json"))
    assert ref["format"] == "frcnn-job" and ref["preset"] == "r50-fpn-1x" and ref["source"].startswith("job ")
    # plan.json's recorded versions and batch win over what the logs imply.
    assert ref["env"]["mmcv"] == "2.1.0" and ref["env"]["mmdet"] == "3.3.0" and ref["train"]["total_batch"] == 16
    assert len(ref["map_by_epoch"]) == 12


def test_watch_work_dir_of_a_2x_text_log_with_reference(cli, tmp_path):
    cli("reference", "add", "zoo-r50", str(ZOO_JSON), "--preset", "r50-fpn-1x")
    work = tmp_path / "w"
    shutil.copytree(REFS / "mmdet2_workdir", work)
    snap = _json(cli("watch", "--work-dir", str(work), "--reference", "zoo-r50", "--once", "--json"))
    assert snap["status"] == "finished" and len(snap["map_by_epoch"]) == 12
    ref = snap["reference"]
    assert {k: ref[k] for k in ("name", "epoch", "run", "reference", "delta")} == {
        "name": "zoo-r50", "epoch": 12, "run": 0.364, "reference": 0.374, "delta": -0.01}
    behind = [a for a in snap["alerts"] if a["kind"] == "behind-reference"]
    assert len(behind) == 1 and behind[0]["epoch"] == 2
    assert "lr per image" in behind[0]["message"] and "total batch 8 vs the reference's 16" in behind[0]["message"]
    text = cli("watch", "--work-dir", str(work), "--reference", "zoo-r50", "--once").stdout
    assert "epoch 12: 0.364 vs reference zoo-r50 0.374 (-0.010, noise 0.008)" in text
    assert cli("watch", "--work-dir", str(work), "--reference", "nope", "--once").returncode == 2


def test_watch_job_report_and_compare(cli, tmp_path):
    cli("reference", "add", "zoo-r50", str(ZOO_JSON), "--preset", "r50-fpn-1x")
    eight = _finished_job(tmp_path, "eight", REFS / "mmengine_workdir", world=8, lr=0.02)
    _finished_job(tmp_path, "four", REFS / "mmdet2_workdir", world=4, lr=0.02)  # the lr left unscaled
    snap = _json(cli("watch", "eight", "--once", "--json"))  # the preset's reference by default
    assert snap["reference"]["name"] == "zoo-r50" and snap["reference"]["delta"] == pytest.approx(0.002)
    assert not [a for a in snap["alerts"] if a["kind"] == "behind-reference"]

    out = tmp_path / "rep"
    result = _json(cli("report", "eight", "-o", str(out), "--json"))
    assert result["chart_error"] is None and not result["running"]
    md = (out / "report.md").read_text()
    for png in ("map.png", "loss.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"({png})" in md
    for needle in ("Reference **zoo-r50**", "| this run | 12 | 37.6 |", "| zoo-r50 | 12 | 37.4 |", "| difference | | +0.2",
                   "lr **0.02** = 0.02 × (1×8×2)/16 = 0.02", "total batch **16**", "| seed | warn | no randomness.seed |",
                   "| OpenCV | 4.9.0 | 4.2.0 | differs |", "| total batch | 16 | 16 |  |", "wall time: 5:48:00",
                   "images/s", "GPU-hours", "Noise threshold 0.008"):
        assert needle in md, needle
    assert "still running" not in md
    assert "wrote " + str(out / "report.md") in cli("report", "eight", "-o", str(out)).stdout
    assert (eight.run_path / "report").exists() is False

    both = _json(cli("compare", "eight", "four", "--json"))
    assert [r["id"] for r in both["runs"]] == ["eight", "four"] and both["epochs"] == list(range(1, 13))
    assert [r["final"]["bbox_mAP"] for r in both["runs"]] == [pytest.approx(0.376), 0.364]
    assert [r["map_by_epoch"][0]["bbox_mAP"] for r in both["runs"]] == [pytest.approx(0.209), 0.196]
    assert [(r["lr"], r["total_batch"], r["lr_per_image"]) for r in both["runs"]] == [(0.02, 16, 0.00125),
                                                                                   (0.02, 8, 0.0025)]
    table = cli("compare", "eight", "four").stdout
    assert "37.6 final, ep 12/12" in table and "37.6" in table and "36.4" in table and "total batch" in table
    assert cli("compare", "eight").returncode == 2


def test_report_of_a_running_job_says_so(cli):
    from tui_support import add_job

    cli("reference", "add", "zoo-r50", str(ZOO_JSON), "--preset", "r50-fpn-1x")
    record = add_job("20261129-093000-cccc", status="running", epochs=4)
    result = _json(cli("report", record.id, "--json"))
    assert result["running"] and result["status"] == "running"
    md = Path(result["report"]).read_text()
    assert "**This job is still running**: this report covers what is on disk, epoch 4 of 12" in md
    assert "| this run | 4 |" in md and "| zoo-r50 (final) | 12 | 37.4 |" in md


def test_launch_with_an_unknown_reference_starts_nothing(cli):
    result = cli("launch", "--preset", "demo-cpu", "--cpu", "--reference", "nope")
    assert result.returncode == 2 and "no reference 'nope'" in result.stderr and "Traceback" not in result.stderr
    assert _json(cli("jobs", "--json"))["jobs"] == []


def test_the_reports_plan_says_what_ran_the_configs_seed_and_a_changed_schedule():
    """The demo's config sets seed 0 and --seed was not given: the report says seed 0, as the
    checklist did, not the request's None; a schedule cut by --cfg-options is set beside the preset's."""
    plan = {"lr": 0.002, "formula": "0.002 × (1×2×2)/4 = 0.002", "rule": "linear", "total_batch": 4, "nodes": 1,
            "gpus_per_node": 2, "cpu": True, "imgs_per_gpu": 2, "warmup_iters": 50, "epochs": 24, "milestones": [],
            "seed": None, "resolved": {"warmup_iters": 50, "max_epochs": 2, "milestones": [], "seed": 0}}
    text = "\n".join(_plan_lines(plan))
    assert "- warmup 50 iterations, 2 epochs, milestones [], seed 0 (the preset says 24 epochs, milestones [])" in text
    assert "total batch **4** = 1 node(s) × 2 CPU workers × 2 images" in text
    plan["resolved"].update(max_epochs=24, seed=None)
    assert "- warmup 50 iterations, 24 epochs, milestones [], seed none (random)\n" in "\n".join(_plan_lines(plan))
    assert _plan_lines({}) == ["No plan.json in the run dir (not launched by frcnn-tui).", ""]
