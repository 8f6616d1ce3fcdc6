"""The Monitor against a reference run (a real Textual app under Pilot): the header compares at the
latest epoch, the banner raises behind-reference, the mAP and loss charts draw the reference;
the Jobs screen's `w` writes the report."""

from __future__ import annotations

from conftest import DATA
from launcher.jobs import registry
from launcher.references import store
from launcher.references.sources import read_path
from tui_support import add_job, make_app, screen_text, sync, wait_for
from tui.screens.monitor import MonitorScreen

ZOO_JSON = DATA / "references" / "zoo" / "faster_rcnn_r50_fpn_1x_coco_20200130_204655.log.json"
JOB = "20261128-231000-aaaa"


def _reference_ahead_by(delta: float) -> None:
    """The zoo-format fixture with every epoch DELTA higher, as the r50-fpn-1x preset's reference."""
    ref = read_path(ZOO_JSON, "zoo-plus")
    ref.preset = "r50-fpn-1x"
    ref.map_by_epoch = [dict(r, bbox_mAP=round(r["bbox_mAP"] + delta, 3)) for r in ref.map_by_epoch]
    store.save(ref)


@sync
async def test_monitor_against_a_reference_run(fake_gpus):
    fake_gpus("eight")
    _reference_ahead_by(0.06)  # the job's 0.212, 0.268, 0.301 trail 0.267, 0.307, 0.326
    add_job(JOB, status="succeeded", epochs=3)
    app = make_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await pilot.pause()
        app.open_monitor(registry.find(JOB))
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot, what="metrics")
        await pilot.pause(0.2)
        snap = app.screen.snapshot
        assert snap["reference"]["name"] == "zoo-plus" and snap["reference"]["epoch"] == 3
        text = screen_text(app)
        assert "ep 3 mAP 30.1 vs zoo-plus 32.6 (-2.5, behind)" in text
        assert "⚠ Behind the reference: mAP 0.268 vs reference zoo-plus 0.307" in text and "no seed" in text
        assert "ref zoo-plus" in text  # the loss chart's reference line (by fraction of the schedule)
        await pilot.press("3")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "box mAP per epoch" in text and "ref zoo-plus" in text and "reference 37.4" not in text
        assert "zoo-plus at epoch 3: 32.6 -2.5" in text and "zoo-plus final: 43.4" in text


@sync
async def test_jobs_screen_writes_the_report(fake_gpus):
    fake_gpus("eight")
    _reference_ahead_by(0.0)
    record = add_job(JOB, status="succeeded", epochs=3)
    app = make_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await pilot.press("j")
        await wait_for(pilot, lambda: getattr(app.screen, "loaded", False), what="the jobs")
        await pilot.press("w")
        report = record.run_path / "report" / "report.md"
        await wait_for(pilot, report.exists, timeout=60, what="report.md")
        await app.workers.wait_for_complete()
        assert (record.run_path / "report" / "map.png").is_file() and (record.run_path / "report" / "loss.png").is_file()
        assert "Reference **zoo-plus**" in report.read_text()
