"""The fast ways to read a long history (orjson, the kept state of history_cache) give
exactly what a plain json.loads of every line gives."""

import gc
import json
import os
import random
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).with_name("data")))

from mmlog import Run, line, train_record, val_record  # noqa: E402

from launcher.monitor import history_cache, scalars  # noqa: E402
from launcher.monitor.history_keeper import HistoryKeeper  # noqa: E402
from launcher.monitor.metrics import JobMetrics  # noqa: E402
from launcher.monitor.run_follower import catch_up, planned_warmup_iters  # noqa: E402
from launcher.monitor.scalars import ScalarBatch  # noqa: E402
from launcher.monitor.workdir import TailUpdate, WorkDirTailer  # noqa: E402

ODD_LINES = [
    '{"lr": 0.02, "loss": NaN, "epoch": 1, "iter": 60, "step": 60}\n',  # orjson refuses NaN
    "\n",
    "not json at all\n",
    '{"lr": 0.02, "loss": true, "epoch": 1, "iter": 61, "step": 61}\n',
    '{"lr": 0.02, "loss": "high", "epoch": 1, "iter": 62, "step": 62}\n',
    "[1, 2, 3]\n",
    "{}\n",
    '{"loss": 1e400, "epoch": 1, "iter": 63, "step": 63}\n',  # json.loads: inf; orjson refuses
    '{"step": 64, "iter": 64, "loss": 0.9, "lr": 0.02}\n',  # another key order
    '{"lr": 0.02, "loss": 1, "epoch": 1, "iter": 65, "step": 65}\n',  # an int in a float column
]


def _history(run: Run, rng: random.Random, *, odd: bool) -> None:
    text = []
    for step in range(1, 400):
        rec = train_record(step * 10, epoch=1 + step // 100, loss=rng.uniform(0.2, 2.0),
                           lr=rng.uniform(0.001, 0.02), time=rng.uniform(0.3, 0.4))
        text.append(line(rec))
        if step % 100 == 0:
            text.append(line(val_record(step // 100, rng.uniform(0.1, 0.4))))
        if odd and step % 57 == 0:
            text.extend(ODD_LINES)
    run.append(run.scalars, "".join(text) + ('{"lr": 0.02, "loss"' if odd else ""))


def _plain(work_dir: Path) -> dict:
    """Every line through json.loads; consecutive lines with the same keys (numbers
    only) form one batch, as the tailer's contract says, so rules that look at a
    batch at a time (divergence) see the same batches."""
    path = Run(work_dir).scalars
    upd = TailUpdate(newest_mtime=path.stat().st_mtime)
    run: list[tuple[int, dict]] = []

    def flush() -> None:
        if not run:
            return
        keys = tuple(run[0][1])
        numeric = all(type(v) in (int, float) for _, d in run for v in d.values())
        groups = [run] if len(run) == 1 or numeric else [[r] for r in run]
        for g in groups:
            upd.batches.append(ScalarBatch(keys, {k: [d[k] for _, d in g] for k in keys}, 0, g[0][0]))
        run.clear()

    for i, raw in enumerate(path.read_bytes().split(b"\n")[:-1]):
        try:
            d = json.loads(raw) if raw.strip() else None
        except ValueError:
            d = {}
        if not isinstance(d, dict) or not d:
            upd.bad_lines += d is not None
            flush()
            continue
        if run and tuple(run[-1][1]) != tuple(d):
            flush()
        run.append((i, d))
    flush()
    metrics = JobMetrics(max_epochs=4, reference_ap=37.4)
    metrics.update(upd)
    return metrics.snapshot(series=True, now=0)


def _fast(work_dir: Path, *, keep: bool = False) -> dict:
    metrics = JobMetrics(max_epochs=4, reference_ap=37.4)
    catch_up(WorkDirTailer(work_dir), metrics, keep=keep)
    return metrics.snapshot(series=True, now=0)


@pytest.mark.parametrize("use_orjson, odd", [(True, False), (True, True), (False, False)])
def test_fast_parse_equals_json_loads_of_every_line(tmp_path, monkeypatch, odd, use_orjson):
    # The regex path (no orjson) reads odd lines one by one: same values, other batches.
    if not use_orjson:
        monkeypatch.setattr(scalars, "_orjson_loads", None)
    elif scalars._orjson_loads is None:
        pytest.skip("orjson not installed")
    _history(Run(tmp_path), random.Random(1), odd=odd)
    fast, plain = _fast(tmp_path), _plain(tmp_path)
    assert fast == plain
    assert json.dumps(fast) == json.dumps(plain)  # same types too (an int stays an int)
    assert fast["series"]["loss"] and fast["map_by_epoch"]


def test_kept_history_gives_the_same_snapshot_and_only_new_lines_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr(history_cache, "SAVE_MIN_BYTES", 0)
    run = Run(tmp_path / "wd")
    _history(run, random.Random(2), odd=True)
    first = _fast(run.work_dir, keep=True)
    assert list((tmp_path / "home" / "cache" / "history").glob("*.pickle"))
    tailer, metrics = WorkDirTailer(run.work_dir), JobMetrics(max_epochs=4, reference_ap=37.4)
    assert history_cache.restore(tailer, metrics)
    assert tailer.bytes_read == run.scalars.stat().st_size
    assert metrics.snapshot(series=True, now=0) == first
    # Lines written since are read on top of what was kept.
    run.records(train_record(9000, epoch=5, loss=0.1), val_record(5, 0.5))
    assert _fast(run.work_dir, keep=True) == _plain(run.work_dir)


def test_the_kept_states_are_bounded_least_recently_used_first(tmp_path, monkeypatch):
    """Every long work dir read leaves a state: the folder keeps MAX_KEPT, drops the least
    recently used first (a restore is a use), the ones unused for MAX_AGE_S, and a dead save's
    .tmp, and a dropped state only means a plain read again."""
    monkeypatch.setattr(history_cache, "SAVE_MIN_BYTES", 0)
    monkeypatch.setattr(history_cache, "MAX_KEPT", 3)
    folder = tmp_path / "home" / "cache" / "history"
    runs = []
    for i in range(3):
        run = Run(tmp_path / f"wd{i}")
        _history(run, random.Random(i), odd=False)
        _fast(run.work_dir, keep=True)
        runs.append(run)
    states = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
    assert len(states) == 3
    for age, state in zip((300, 200, 100), states):  # wd0 the oldest use, wd2 the newest
        os.utime(state, (time.time() - age, time.time() - age))
    assert history_cache.restore(WorkDirTailer(runs[0].work_dir), JobMetrics(max_epochs=4, reference_ap=37.4))
    dead = folder / "x.pickle.123.tmp"
    dead.write_bytes(b"half")
    os.utime(dead, (time.time() - 7200, time.time() - 7200))

    run = Run(tmp_path / "wd3")
    _history(run, random.Random(3), odd=False)
    _fast(run.work_dir, keep=True)
    assert len(list(folder.glob("*.pickle"))) == 3 and not dead.exists()
    kept = {i for i, r in enumerate(runs + [run])
            if history_cache.restore(WorkDirTailer(r.work_dir), JobMetrics(max_epochs=4, reference_ap=37.4))}
    assert kept == {0, 2, 3}  # wd1 was the least recently used
    assert _fast(runs[1].work_dir, keep=True) == _plain(runs[1].work_dir)

    for state in folder.glob("*.pickle"):  # a month unused
        os.utime(state, (time.time() - history_cache.MAX_AGE_S - 60,) * 2)
    _fast(runs[1].work_dir, keep=True)  # a save prunes the others, all past MAX_AGE_S
    assert len(list(folder.glob("*.pickle"))) == 1
    assert history_cache.restore(WorkDirTailer(runs[1].work_dir), JobMetrics(max_epochs=4, reference_ap=37.4))


def test_kept_history_of_a_replaced_log_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr(history_cache, "SAVE_MIN_BYTES", 0)
    run = Run(tmp_path / "wd")
    _history(run, random.Random(3), odd=False)
    _fast(run.work_dir, keep=True)
    # Rewritten as long as before, with other values: the kept state must not be used.
    data = run.scalars.read_bytes()
    run.scalars.unlink()
    run.append(run.scalars, data.replace(b'"acc": 90.1', b'"acc": 80.1'))
    assert not history_cache.restore(WorkDirTailer(run.work_dir), JobMetrics())
    assert _fast(run.work_dir, keep=True)["latest"]["acc"] == 80.1


def test_the_job_keeps_its_history_as_it_grows_so_its_first_reader_parses_only_the_rest(tmp_path):
    run = Run(tmp_path / "wd")
    (run.work_dir / "plan.json").write_text(json.dumps({"warmup_iters": 50}))
    keeper = HistoryKeeper(run.work_dir, period=0.02, min_bytes=0)
    keeper.start()
    rng = random.Random(4)
    for chunk in range(3):  # the run logs while the keeper follows it
        run.records(*(train_record(chunk * 4000 + step * 10, epoch=1 + chunk, loss=rng.uniform(0.2, 2.0),
                                   lr=rng.uniform(0.001, 0.02)) for step in range(1, 400)),
                    val_record(1 + chunk, rng.uniform(0.1, 0.4)))
        deadline = time.monotonic() + 10
        while keeper.keeps == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    keeper.stop()
    assert keeper.keeps >= 1 and not keeper.is_alive()
    # The first reader, with the warmup every reader takes from the plan, restores the
    # job's state at the run's last line and gets what parsing every line gives.
    tailer, metrics = WorkDirTailer(run.work_dir), JobMetrics(warmup_iters=planned_warmup_iters(run.work_dir))
    assert metrics.warmup_iters == 50
    assert history_cache.restore(tailer, metrics)
    assert tailer.bytes_read == run.scalars.stat().st_size
    scratch = JobMetrics(warmup_iters=50)
    catch_up(WorkDirTailer(run.work_dir), scratch, keep=False)
    assert metrics.snapshot(series=True, now=0) == scratch.snapshot(series=True, now=0)
    # Another warmup is another history (the divergence alert depends on it): not restored.
    assert not history_cache.restore(WorkDirTailer(run.work_dir), JobMetrics(warmup_iters=500))


def test_a_short_history_is_not_kept_and_the_plan_decides_the_warmup(tmp_path):
    run = Run(tmp_path / "wd")
    _history(run, random.Random(5), odd=False)
    keeper = HistoryKeeper(run.work_dir, period=3600)  # the default threshold: 16 MiB
    assert not keeper.step() and keeper.keeps == 0
    assert not history_cache.restore(WorkDirTailer(run.work_dir), JobMetrics())
    assert planned_warmup_iters(run.work_dir) == 500  # no plan.json: mmdet's default
    for bad in ('{"warmup_iters": "50"}', "[1]", "{", '{"warmup_iters": -1}'):
        (run.work_dir / "plan.json").write_text(bad)
        assert planned_warmup_iters(run.work_dir) == 500


def test_catch_up_pauses_the_cyclic_gc_only_while_it_reads(tmp_path, monkeypatch):
    """The GC is off while the pieces are parsed (its passes free nothing there), and as it
    was afterwards: back on, still off under the TUI's start-up pause, back on after an error."""
    _history(Run(tmp_path), random.Random(1), odd=False)
    seen = []
    update = JobMetrics.update

    def spying(self, upd):
        seen.append(gc.isenabled())
        return update(self, upd)

    monkeypatch.setattr(JobMetrics, "update", spying)
    was = gc.isenabled()
    try:
        gc.enable()
        _fast(tmp_path)
        assert seen and not any(seen) and gc.isenabled()
        gc.disable()
        _fast(tmp_path)
        assert not gc.isenabled()
        gc.enable()
        monkeypatch.setattr(JobMetrics, "update", lambda self, upd: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            _fast(tmp_path)
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
