"""Each benchmark script runs once at its quick (tiny) sizes and prints its JSON with the
ratio fields; run_all renders them. Not timed tests: nothing here asserts on a speed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from conftest import REPO
from training_helpers import needs_stack

BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import bench_demo  # noqa: E402
import run_all  # noqa: E402


def run_bench(script: str, *args: str, timeout: float = 600) -> dict:
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:  # pytest.fail: the whole text (an assertion's message is cut in the middle)
        pytest.fail(f"{script} exit {proc.returncode}\n--- stdout:\n{proc.stdout[-6000:]}\n--- stderr:\n"
                    f"{proc.stderr[-3000:]}", pytrace=False)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    if "error" in data:
        pytest.fail(f"{script}: {data['error']}", pytrace=False)
    return data


def is_summary(value) -> bool:
    return isinstance(value, dict) and {"median", "min", "max"} <= set(value) and \
        value["min"] <= value["median"] <= value["max"]


def render(name: str, data: dict) -> str:
    info = {"cores": 2, "cpu": "test", "gpu": "none", "torch": "x", "python": "3", "commit": "abc", "dirty": False,
            "date": "today", "host": "h"}
    return run_all.render({name: data}, info, True, [1.0], 1.0)


def test_startup_quick_reports_both_ratios():
    data = run_bench("bench_startup.py", "--quick", "--json")
    for key in ("help_ratio", "first_frame_ratio", "help_exit_s", "hello_first_frame_s", "frcnn_first_frame_s",
                "populated_ratio", "frcnn_populated_s"):
        assert is_summary(data[key]), key
    assert data["repeats"] == 3 and data["frcnn_first_screen"] == "HomeScreen"
    assert isinstance(data["met_help"], bool) and isinstance(data["met_first_frame"], bool)
    # The presets come after the first frame: the populated Home is never earlier than it.
    assert data["frcnn_populated_s"]["min"] >= data["frcnn_first_frame_s"]["min"]
    text = render("startup", data)
    assert "TUI first frame ÷ hello-world" in text and "populated Home" in text


def test_log_ingest_quick_reports_snapshot_and_baseline():
    data = run_bench("bench_log_ingest.py", "--quick", "--json")
    assert data["lines"] == 10_000
    for key in ("first_snapshot_wall_s", "json_loads_wall_s"):
        assert {"median", "min", "max"} <= set(data[key])
    assert "first snapshot ÷ plain `json.loads` loop" in render("log_ingest", data)


def test_demo_quick_is_skipped_with_a_reason():
    data = run_bench("bench_demo.py", "--quick", "--json")
    assert data["skipped"] and data["time_to_target_s"] is None and data["met"] is None
    assert "Skipped" in render("demo", data)


def test_demo_section_reports_the_target_and_the_early_goal():
    timeline = [{"epoch": 1, "s": 100, "bbox_mAP": 0.5}, {"epoch": 2, "s": 200, "bbox_mAP": 0.72}]
    one = {"median": 1.0, "min": 1.0, "max": 1.0, "n": 1}
    data = {"figure": "demo", "repeats": 1, "epochs": 2, "time_to_target_s": None, "met": False,
            "wall_s": {**one, "median": 230.0, "min": 230.0, "max": 230.0},
            "best_bbox_mAP": {**one, "median": 0.72, "min": 0.72, "max": 0.72},
            "runs": [{"map_by_epoch": [{k: v[k] for k in ("epoch", "bbox_mAP")} for v in timeline],
                      "val_timeline": timeline}], "loadavg_start": [1.0], "loadavg_end": [1.0]}
    text = render("demo", data)
    assert "| Demo: time to bbox mAP ≥ 0.75 | not reached (best 0.720 in 230 s) | ≤ 600 s | **MISSED** |" in text
    assert "| Demo: time to bbox mAP ≥ 0.70 | 200 s | ≤ 240 s | met |" in text
    assert "How the demo-cpu recipe was found" in text
    # Past 240 s the early goal is missed, and the section says why.
    late = [dict(v, s=v["s"] + 100) for v in timeline]
    text = render("demo", {**data, "runs": [{**data["runs"][0], "val_timeline": late}]})
    assert "| Demo: time to bbox mAP ≥ 0.70 | 300 s | ≤ 240 s | **MISSED** |" in text
    assert "Goal missed: demo time to mAP 0.70" in text


def test_demo_time_to_target_reads_mmengine_val_lines(tmp_path):
    log = tmp_path / "20261128_120000" / "20261128_120000.log"
    log.parent.mkdir()
    log.write_text(
        "2026/11/28 12:01:00 - mmengine - INFO - Epoch(train) [1][1/50]  lr: 1e-05  time: 3.1\n"
        "2026/11/28 12:02:00 - mmengine - INFO - Epoch(val) [1][13/13]    coco/bbox_mAP: 0.4120  "
        "coco/bbox_mAP_50: 0.8000  data_time: 0.0084  time: 0.4412\n"
        "2026/11/28 12:04:30 - mmengine - INFO - Epoch(val) [2][13/13]    coco/bbox_mAP: 0.7710  "
        "coco/bbox_mAP_50: 0.9500  data_time: 0.0084  time: 0.4412\n")
    start = time.mktime(time.strptime("2026/11/28 12:00:00", "%Y/%m/%d %H:%M:%S"))
    assert [(e, m) for _, e, m in bench_demo.val_times(tmp_path)] == [(1, 0.412), (2, 0.771)]
    assert bench_demo.time_to_target(tmp_path, start) == {"seconds": 270.0, "epoch": 2, "bbox_mAP": 0.771}
    assert bench_demo.time_to_target(tmp_path, start, target=0.9) is None


def test_tui_jobs_quick_measures_both_phases_and_the_bytes_read():
    data = run_bench("bench_tui_jobs.py", "--quick", "--json", timeout=120)
    assert data["jobs"] == 10
    for phase in ("jobs_screen", "monitor"):
        d = data[phase]
        assert d["pct_core"] > 0 and isinstance(d["met"], bool)
        # Each poll reads only new bytes: never (much) more than the jobs appended meanwhile.
        assert d["bytes_appended"] > 0 and d["bytes_read"] <= 2 * d["bytes_appended"], d
    assert "Ten live jobs" in render("tui_jobs", data)


def test_run_all_writes_the_markdown(tmp_path):
    out, raw = tmp_path / "BENCH.md", tmp_path / "raw.json"
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--quick", "--only", "log_ingest,demo",
                           "--write", str(out), "--raw", str(raw)], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "## Summary" in text and "Log ingest" in text and "make bench" in text
    assert set(json.loads(raw.read_text())["results"]) == {"log_ingest", "demo"}
    again = tmp_path / "AGAIN.md"
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--from-raw", str(raw), "--write", str(again)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert again.read_text() == text


@needs_stack
@pytest.mark.training
def test_launch_overhead_quick_measures_a_pair():
    data = run_bench("bench_launch_overhead.py", "--quick", "--json")
    assert data["device"] in ("cpu", "gpu") and data["repeats"] == 1
    assert is_summary(data["ratio"]) and data["ratio"]["median"] > 0
    pair = data["pairs"][0]
    assert pair["launch"]["iters"] >= 1 and pair["manual"]["iters"] == pair["launch"]["iters"]
    assert "torch.distributed.run" in data["launch_command"] and data["launch_env"].get("OMP_NUM_THREADS")
    assert isinstance(data["met"], bool)
    assert "throughput via `frcnn-tui launch` ÷ by hand" in render("launch_overhead", data)


@needs_stack
@pytest.mark.training
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_monitor_cost_quick_opens_the_monitor_and_measures():
    data = run_bench("bench_monitor_cost.py", "--quick", "--json")
    assert is_summary(data["ratio"]) and data["ratio"]["median"] > 0
    assert is_summary(data["tui_cpu_s_per_min"]) and data["tui_cpu_s_per_min"]["median"] >= 0
    watched = data["pairs"][0]["watched"]
    assert watched["monitor_showed_job"] and watched["iters"] >= 1
    assert isinstance(data["met_ratio"], bool) and isinstance(data["met_tui_cpu"], bool)
    assert "TUI CPU s per minute of monitoring" in render("monitor_cost", data)


def test_data_check_quick_times_both_and_renders_its_section():
    data = run_bench("bench_data_check.py", "--quick", "--json", timeout=300)
    assert data["sizes"]["train"] == [5_000, 36_000] and len(data["pairs"]) == 1
    assert is_summary(data["ratio"]) and is_summary(data["check_s"]) and is_summary(data["pycocotools_s"])
    assert isinstance(data["met"], bool)
    md = render("data_check", data)
    assert "## 4c. Data check" in md and "| Data check of a COCO-size set ÷ pycocotools loading it |" in md


def test_job_registry_quick_measures_the_list_and_the_screen_against_one_job():
    data = run_bench("bench_job_registry.py", "--quick", "--json", "--sizes", "20", "--window", "1", timeout=300)
    base, big = data["sizes"]["1"], data["sizes"]["20"]
    assert big["finished"] == 20 and big["running"] == 1 and big["rows"] == 21 and base["rows"] == 1
    for key in ("jobs_s", "jobs_first_s", "rows_s", "rows_first_s", "idle_cpu_s_per_min"):
        assert big[key] > 0 and big[f"{key}_ratio"] > 0
    assert "## 4d. A registry that grows" in render("job_registry", data)


def test_tui_bytes_quick_counts_each_screens_bytes_against_top():
    data = run_bench("bench_tui_bytes.py", "--quick", "--json", "--window", "2", timeout=300)
    assert set(data["cases"]) == {"home", "jobs_empty", "jobs_one_running", "jobs_1000_finished_one_running",
                                  "monitor_one_running"}
    for case in data["cases"].values():
        assert case["tui_alive"] and case["drawn_before_window"] > 0 and case["top_bytes"] > 0
        assert case["bytes"] >= 0 and isinstance(case["met"], bool)
    assert "## 4e. Bytes to the terminal" in render("tui_bytes", data)
