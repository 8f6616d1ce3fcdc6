import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).with_name("data")))

from mmlog import Run, copy_fixture, train_record, train_text_line, val_record  # noqa: E402

from launcher.monitor.alerts import DivergenceRule  # noqa: E402
from launcher.monitor.metrics import JobMetrics  # noqa: E402
from launcher.monitor.run_follower import catch_up, snapshot_of_work_dir  # noqa: E402
from launcher.monitor.series import DownsampledSeries  # noqa: E402
from launcher.monitor.workdir import WorkDirTailer  # noqa: E402


def ingest(work_dir, **kwargs) -> tuple[JobMetrics, WorkDirTailer]:
    tailer, metrics = WorkDirTailer(work_dir), JobMetrics(**kwargs)
    catch_up(tailer, metrics)
    return metrics, tailer


def test_nan_alert_at_the_first_non_finite_line(tmp_path):
    snap = ingest(copy_fixture("run_crashed", tmp_path))[0].snapshot()
    alerts = [a for a in snap["alerts"] if a["kind"] == "nonfinite_loss"]
    assert len(alerts) == 1 and alerts[0]["step"] == 150
    assert "loss=nan" in alerts[0]["message"] and "loss_bbox=inf" in alerts[0]["message"]
    assert snap["latest"]["loss"] == "nan"  # JSON has no NaN
    assert snap["status"] == "failed" and snap["eta_s"] is None
    json.dumps(snap, allow_nan=False)

    run = Run(tmp_path / "first_line")
    run.records(train_record(50, loss=float("nan")), train_record(100))
    alerts = ingest(run.work_dir)[0].snapshot()["alerts"]
    assert [a["step"] for a in alerts] == [50]


def test_nan_found_only_in_the_text_log(tmp_path):
    run = Run(tmp_path, create=False)
    ok, bad = train_record(50, epoch=2), train_record(100, epoch=2, loss=float("nan"))
    run.log(train_text_line(ok, 50, 200), train_text_line(bad, 100, 200))
    alerts = ingest(tmp_path)[0].snapshot()["alerts"]
    assert len(alerts) == 1 and alerts[0]["step"] == 300  # (2 - 1) * 200 + 100
    assert "loss: nan" in alerts[0]["message"]


def test_nan_alert_from_a_skimmed_backlog(tmp_path):
    run = Run(tmp_path)
    run.records(*(train_record(s, loss=float("nan") if s >= 20000 else 1.0) for s in range(50, 40001, 50)))
    metrics = JobMetrics()
    metrics.update(WorkDirTailer(tmp_path).poll(max_bytes=4096))
    snap = metrics.snapshot()
    assert snap["catching_up"] and [a["step"] for a in snap["alerts"]] == [20000]


def loss_curve(n, rise_at=None, spike_at=None):
    """MMEngine-like logged losses: falling, optionally diverging from ``rise_at``."""
    out = []
    for i in range(n):
        v = 0.4 + 1.5 * 0.97 ** i
        if rise_at is not None and i >= rise_at:
            v *= 1 + 0.15 * (i - rise_at)
        if spike_at is not None and i == spike_at:
            v = 50.0
        out.append(v)
    return out


def test_divergence_alert_fires_once_on_a_sustained_rise(tmp_path):
    run = Run(tmp_path)
    losses = loss_curve(120, rise_at=80)
    run.records(*(train_record(50 * (i + 1), loss=v) for i, v in enumerate(losses)))
    alerts = [a for a in ingest(tmp_path)[0].snapshot()["alerts"] if a["kind"] == "divergence"]
    assert len(alerts) == 1
    assert 50 * 85 <= alerts[0]["step"] <= 50 * 100
    assert "x its minimum" in alerts[0]["message"]


def test_divergence_ignores_spikes_and_warmup(tmp_path):
    run = Run(tmp_path)
    losses = loss_curve(120, spike_at=60)
    losses[:8] = [5.0, 0.3, 9.0, 0.2, 8.0, 0.3, 7.0, 0.2]  # wild during the 500-iter warmup
    run.records(*(train_record(50 * (i + 1), loss=v) for i, v in enumerate(losses)))
    assert ingest(tmp_path)[0].snapshot()["alerts"] == []


def test_divergence_rule_same_alerts_in_bulk_line_by_line_or_in_any_pieces():
    # Followed live (a line at a time) or read again (pieces of any size, NaNs inside): the
    # same alerts at the same steps, since the rule judges every 10th finite value of the run.
    steps = [50 * (i + 1) for i in range(400)]
    losses = loss_curve(400, rise_at=120)
    losses[200:260] = [0.42] * 60  # recovers (the rule re-arms), then rises again
    losses[131] = losses[207] = float("nan")
    bulk = DivergenceRule().feed(steps, losses)
    rule = DivergenceRule()
    single = [a for s, v in zip(steps, losses) for a in rule.feed([s], [v])]
    rng = random.Random(4)
    rule, pieces, i = DivergenceRule(), [], 0
    while i < len(steps):
        j = i + rng.randint(1, 37)
        pieces += rule.feed(steps[i:j], losses[i:j])
        i = j
    assert len(bulk) >= 2 and bulk == single == pieces


def test_downsampled_series_is_bounded_and_keeps_spikes():
    rng = random.Random(0)
    series = DownsampledSeries(max_buckets=64)
    n, step = 300_000, 0
    spike_at = 123_457
    while step < n:
        size = rng.choice([1, 7, 500, 4096])
        steps = list(range(step, min(n, step + size)))
        values = [1.0 + 0.01 * rng.random() for _ in steps]
        if steps[0] <= spike_at <= steps[-1]:
            values[spike_at - steps[0]] = 99.0
        if steps[0] <= 200_000 <= steps[-1]:
            values[200_000 - steps[0]] = float("nan")  # never poisons a bucket
        series.extend(steps, values)
        step = steps[-1] + 1
    buckets = series.buckets()
    assert 32 < len(buckets) <= 64 and series.count == n - 1
    assert buckets[0][0] == 0 and [b[0] for b in buckets] == sorted(b[0] for b in buckets)
    spiked = [b for b in buckets if b[2] == 99.0]
    assert len(spiked) == 1 and spiked[0][0] <= spike_at
    assert all(b[1] >= 1.0 and b[2] <= 1.01 for b in buckets if b is not spiked[0])
    assert series.last == (n - 1, values[-1])


def test_downsampled_series_matches_brute_force():
    values = [((i * 7919) % 1000) / 10 for i in range(1000)]
    series = DownsampledSeries(max_buckets=8)
    for i in range(0, 1000, 37):
        series.extend(list(range(i, min(1000, i + 37))), values[i:i + 37])
    width = 128  # smallest power of two with ceil(1000 / w) <= 8
    assert series.buckets() == [[j, min(values[j:j + width]), max(values[j:j + width])]
                                for j in range(0, 1000, width)]


def test_series_rewinds_when_a_resume_repeats_steps(tmp_path):
    first = Run(tmp_path, "20261128_231000")
    first.records(*(train_record(s, loss=2.0) for s in (50, 100, 150, 200)))
    second = Run(tmp_path, "20261129_080000")
    second.records(*(train_record(s, loss=1.0) for s in (150, 200, 250)))
    snap = ingest(tmp_path)[0].snapshot(series=True)
    assert snap["series"]["loss"] == [[50, 2.0, 2.0], [100, 2.0, 2.0], [150, 1.0, 1.0],
                                      [200, 1.0, 1.0], [250, 1.0, 1.0]]
    assert snap["latest"]["step"] == 250


def test_memory_stays_bounded_for_a_long_run(tmp_path):
    run = Run(tmp_path)
    run.records(*(train_record(s, loss=1 + (s % 997) / 997) for s in range(50, 50 * 20001, 50)))
    metrics, _ = ingest(tmp_path, max_buckets=128)
    snap = metrics.snapshot(series=True)
    assert snap["records"] == 20000
    assert all(len(v) <= 128 for v in snap["series"].values())
    assert {"loss", "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "acc", "lr", "time",
            "data_time", "memory"} == set(snap["series"])


def test_progress_and_eta_from_iteration_time(tmp_path):
    run = Run(tmp_path)
    recs = [train_record(s, epoch=1 + (s - 1) // 100, time=0.5) for s in range(50, 301, 50)]
    run.records(*recs)
    run.log(train_text_line(recs[-1], 100, 100, eta="0:07:30"))
    snap = ingest(tmp_path, max_epochs=12)[0].snapshot()
    assert snap["progress"] == {"epoch": 3, "max_epochs": 12, "iter_in_epoch": 100,
                                "iters_per_epoch": 100, "global_iter": 300, "total_iters": 1200,
                                "fraction": 0.25}
    assert snap["eta_s"] == (1200 - 300) * 0.5 and snap["eta_source"] == "iteration time"
    assert snap["status"] == "running"


def test_eta_falls_back_to_the_text_log(tmp_path):
    run = Run(tmp_path, create=False)
    run.log(train_text_line(train_record(150, epoch=2), 50, 100, eta="1:02:03"))
    snap = ingest(tmp_path)[0].snapshot()
    assert snap["progress"]["global_iter"] == 150 and snap["progress"]["iter_in_epoch"] == 50
    assert (snap["eta_s"], snap["eta_source"]) == (3723, "text log")


def test_best_map_checkpoint_and_gap_to_reference(tmp_path):
    work = copy_fixture("run_2epochs", tmp_path)
    (work / "epoch_2.pth").write_bytes(b"")
    snap = ingest(work, reference_ap=37.4)[0].snapshot()
    assert snap["best"] == {"epoch": 2, "metric": "bbox_mAP", "bbox_mAP": 0.365, "value": 0.365,
                            "percent": 36.5, "checkpoint": str(work / "epoch_2.pth"),
                            "reference_ap": 37.4, "gap_to_reference": -0.9}
    assert snap["map_by_epoch"][1]["bbox_mAP_l"] is None  # -1.0: no large objects
    assert snap["status"] == "finished" and snap["eta_s"] == 0
    assert snap["progress"]["fraction"] == 1.0 and snap["progress"]["max_epochs"] == 2
    assert snap["lr_scaling_line"].endswith("Scaling the original LR by 0.25.")
    assert snap["coco_table"][0].endswith("maxDets=100 ] = 0.365") and len(snap["coco_table"]) == 12

    (work / "epoch_2.pth").unlink()
    (work / "best_coco_bbox_mAP_epoch_2.pth").write_bytes(b"")
    best = ingest(work)[0].snapshot()["best"]
    assert best["checkpoint"] == str(work / "best_coco_bbox_mAP_epoch_2.pth")
    assert best["gap_to_reference"] is None


def test_map_keeps_the_resumed_runs_value(tmp_path):
    Run(tmp_path, "20261128_231000").records(val_record(1, 0.30), val_record(2, 0.31))
    Run(tmp_path, "20261129_080000").records(val_record(2, 0.33))
    tailer, metrics = WorkDirTailer(tmp_path), JobMetrics()
    metrics.update(tailer.poll(max_bytes=1))  # peeks first, then the in-order lines
    metrics.update(tailer.poll(max_bytes=None))
    assert [m["bbox_mAP"] for m in metrics.snapshot()["map_by_epoch"]] == [0.30, 0.33]


def test_skimmed_then_caught_up_equals_read_at_once(tmp_path):
    run = Run(tmp_path)
    recs = []
    for epoch in range(1, 6):
        recs += [train_record(s, epoch=epoch, loss=1 + (s % 300) / 100) for s in
                 range((epoch - 1) * 2000 + 50, epoch * 2000 + 1, 50)]
        recs.append(val_record(epoch, 0.3 + epoch / 100))
    run.records(*recs)
    whole = ingest(tmp_path, max_epochs=6)[0].snapshot(series=True, now=0)
    tailer, metrics = WorkDirTailer(tmp_path), JobMetrics(max_epochs=6)
    while True:
        upd = tailer.poll(max_bytes=3000)
        metrics.update(upd)
        if not upd.backlog_bytes:
            break
    assert metrics.snapshot(series=True, now=0) == whole


def test_truncation_resets_and_is_reported(tmp_path):
    run = Run(tmp_path)
    run.records(train_record(50, loss=float("nan")), train_record(100))
    tailer, metrics = WorkDirTailer(tmp_path), JobMetrics()
    metrics.update(tailer.poll())
    run.scalars.write_text("")
    run.records(train_record(50))
    metrics.update(tailer.poll())
    snap = metrics.snapshot()
    assert [a["kind"] for a in snap["alerts"]] == ["log_reset"]
    assert snap["records"] == 1


def test_one_shot_snapshot_full_or_skimmed(tmp_path):
    run = Run(tmp_path)
    recs = []
    for epoch in range(1, 9):
        recs += [train_record(s, epoch=epoch, loss=float("nan") if s == 17000 else 1.0)
                 for s in range((epoch - 1) * 5000 + 50, epoch * 5000 + 1, 50)]
        recs.append(val_record(epoch, 0.3 + epoch / 100))
    run.records(*recs)
    (tmp_path / "epoch_8.pth").write_bytes(b"")
    full = snapshot_of_work_dir(tmp_path, max_epochs=12, reference_ap=37.4)
    quick = snapshot_of_work_dir(tmp_path, max_epochs=12, reference_ap=37.4, max_bytes=10_000)
    assert not full["catching_up"] and quick["catching_up"]
    for key in ("progress", "latest", "map_by_epoch", "best", "alerts", "eta_s"):
        assert quick[key] == full[key], key
    assert full["best"]["checkpoint"] == str(tmp_path / "epoch_8.pth")
    assert [a["step"] for a in full["alerts"]] == [17000]


def test_stalled_after_several_usual_intervals_of_silence_while_running(tmp_path):
    # Logged every 10 iterations at 0.5 s each: the usual interval is 5 s, the limit 3x5 + 30 = 45 s.
    run = Run(tmp_path, "20260101_000000")
    run.records(*(train_record(i, lr=0.01, loss=1.0, time=0.5) for i in range(10, 110, 10)))
    last = time.time()
    os.utime(run.scalars, (last, last))

    def kinds(status, now):
        metrics = JobMetrics()
        metrics.update(WorkDirTailer(tmp_path).poll())
        return [a["kind"] for a in metrics.snapshot(job_status=status, now=now)["alerts"]]

    assert kinds("running", last + 40) == []
    assert kinds("running", last + 46) == ["stalled"]
    assert kinds("failed", last + 46) == []  # processes gone: a failure, not a stall
    assert kinds(None, last + 46) == []  # a bare work dir: whether anything lives is unknown
