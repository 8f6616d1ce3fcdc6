"""Per-class AP (CocoMetric classwise=True): `watch --json`'s per_class, the Monitor's mAP tab, the report.

The run is an MMEngine work dir written as mmdet 3.3 logs a classwise evaluation: CocoMetric puts
`<class>_precision` (AP 0.50:0.95, a fraction; NaN for a class without val boxes) before bbox_mAP
in its results, and MMEngine writes them to vis_data/scalars.json prefixed `coco/`.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli
from launcher.jobs import registry
from test_tui_app import settle
from tui_support import TS, add_job, make_app, screen_text, sync, wait_for
from tui.screens.monitor import MonitorScreen

JOB = "20261207-040000-cccc"
# epoch -> {class: AP}; "traffic light" has a space, "unseen" no val boxes (NaN).
AP = {1: {"traffic light": 0.20, "dog": 0.05, "cat": 0.30, "unseen": float("nan")},
      2: {"traffic light": 0.25, "dog": 0.12, "cat": 0.28, "unseen": float("nan")}}


def add_classwise_job() -> Path:
    record = add_job(JOB, epochs=2, preset="demo-cpu", cpu=True, gpu_ids=())
    scalars = Path(record.run_dir) / TS / "vis_data" / "scalars.json"
    lines = []
    for line in scalars.read_text().splitlines():
        row = json.loads(line)
        if "coco/bbox_mAP" in row:  # json.dumps writes NaN as NaN, as MMEngine's LocalVisBackend does
            row = {**{f"coco/{name}_precision": ap for name, ap in AP[row["step"]].items()}, **row}
        lines.append(json.dumps(row))
    scalars.write_text("\n".join(lines) + "\n")
    return Path(record.run_dir)


def test_watch_json_has_the_latest_per_class_ap():
    add_classwise_job()
    result = run_cli("watch", JOB, "--once", "--json")
    assert result.returncode == 0, result.stderr
    snap = json.loads(result.stdout)
    assert snap["per_class"] == {"traffic light": 0.25, "dog": 0.12, "cat": 0.28, "unseen": None}
    assert snap["map_by_epoch"][-1]["bbox_mAP"] is not None  # the whole mAP is still the primary metric


def test_report_has_a_per_class_table_weakest_first(tmp_path):
    add_classwise_job()
    result = run_cli("report", JOB, "-o", str(tmp_path / "out"), "--json")
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "out" / "report.md").read_text()
    table = md.split("## Per-class AP", 1)[1].split("##", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| class")]
    assert rows == ["| dog | 12.0 | +7.0 |", "| traffic light | 25.0 | +5.0 |", "| cat | 28.0 | -2.0 |",
                    "| unseen | – | – |"], table
    assert "At epoch 2, weakest first" in table and "change since epoch 1" in table


@sync
async def test_monitor_map_tab_shows_per_class_ap_weakest_first(fake_gpus):
    fake_gpus("none")
    add_classwise_job()
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(app, pilot)
        app.open_monitor(registry.find(JOB))
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot, what="metrics")
        await pilot.press("3")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "per-class AP, epoch 2 (weakest first)" in text, text
        lines = [line for line in text.splitlines() if any(n in line for n in ("dog ", "traffic light", "cat ", "unseen"))]
        assert [next(n for n in ("dog", "traffic light", "cat", "unseen") if n in line) for line in lines] == \
            ["dog", "traffic light", "cat", "unseen"], lines
        assert "12.0  +7.0" in lines[0] and "28.0  -2.0" in lines[2]
