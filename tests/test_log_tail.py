import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).with_name("data")))

import mmlog  # noqa: E402
from mmlog import Run, copy_fixture, line, train_record, val_record  # noqa: E402

from launcher.monitor.workdir import WorkDirTailer  # noqa: E402


def rows(update, *, peeks=False):
    batches = update.peeks if peeks else update.batches
    return [b.row(i) for b in batches for i in range(b.n)]


def steps(update):
    return [r["step"] for r in rows(update) if "loss" in r]


def test_partial_last_line_waits_for_its_newline(tmp_path):
    run = Run(tmp_path)
    second = line(train_record(100))
    run.append(run.scalars, line(train_record(50)) + second[:40])
    tailer = WorkDirTailer(tmp_path)
    first = tailer.poll()
    assert steps(first) == [50] and first.bad_lines == 0
    assert tailer.poll().batches == []
    run.append(run.scalars, second[40:])
    assert rows(tailer.poll()) == [train_record(100)]


def test_scalars_file_that_appears_late(tmp_path):
    run = Run(tmp_path, create=False)
    tailer = WorkDirTailer(tmp_path)
    assert not tailer.poll().batches
    run.dir.mkdir()
    assert not tailer.poll().changed  # folder there, vis_data not yet
    run.records(train_record(50))
    assert steps(tailer.poll()) == [50]


def test_new_folder_after_resume_is_followed_in_order(tmp_path):
    first = Run(tmp_path, "20261128_231000")
    first.records(*(train_record(s) for s in (50, 100, 150)))
    tailer = WorkDirTailer(tmp_path)
    assert steps(tailer.poll()) == [50, 100, 150]
    second = Run(tmp_path, "20261129_080000")  # resumed from the checkpoint at 100
    second.records(train_record(150), train_record(200))
    first.records(train_record(999))  # a late flush of the old run still comes first
    upd = tailer.poll()
    assert steps(upd) == [999, 150, 200]
    assert [b.source for b in upd.batches] == [0, 1]


def test_truncated_file_starts_over_and_says_so(tmp_path):
    run = Run(tmp_path)
    run.records(*(train_record(s) for s in (50, 100, 150)))
    tailer = WorkDirTailer(tmp_path)
    tailer.poll()
    run.scalars.write_text(line(train_record(50)))
    upd = tailer.poll()
    assert upd.reset and upd.truncated == ["20261128_231000/vis_data/scalars.json"]
    assert steps(upd) == [50]
    assert not tailer.poll().reset


def test_non_json_lines_are_skipped_and_counted(tmp_path):
    run = Run(tmp_path)
    good = [train_record(50), train_record(100)]
    run.append(run.scalars, line(good[0]) + "not json\n" + '{"lr": 0.02, "loss": \n'
               + "\n" + "[1, 2]\n" + '{"lr": 1.2.3, "data_time": 0.01, "loss": 1.0}\n' + line(good[1])
               + b"\xff\xfe\n".decode("latin-1"))
    upd = WorkDirTailer(tmp_path).poll()
    assert [r for r in rows(upd) if "loss" in r and r["loss"] == 1.2] == good
    assert upd.bad_lines == 5  # the empty line is not counted


def test_fast_parser_gives_exactly_what_json_loads_gives(tmp_path):
    run = Run(tmp_path)
    lines = []
    for i in range(1, 400):
        rec = train_record(i * 50, epoch=1 + i // 100, loss=1.0 + i / 7, memory=None if i > 300 else 3000)
        if i == 123:
            rec["loss"], rec["loss_cls"] = float("nan"), float("inf")
        lines.append(line(rec))
        if i % 100 == 0:
            lines.append(line(val_record(i // 100, 0.3 + i / 10000)))
    run.append(run.scalars, "".join(lines))
    upd = WorkDirTailer(tmp_path).poll()
    got = json.dumps(rows(upd))  # via json so NaN compares equal to NaN
    assert got == json.dumps([json.loads(s) for s in lines])
    assert len(upd.batches) < 20  # runs of equal keys stay one columnar batch


def test_backlog_is_skimmed_then_read_in_order(tmp_path):
    run = Run(tmp_path)
    recs = []
    for epoch in (1, 2, 3):
        recs += [train_record(s, epoch=epoch) for s in range(epoch * 1000 - 950, epoch * 1000 + 1, 50)]
        recs.append(val_record(epoch, 0.1 * epoch))
    recs[30]["loss"] = float("nan")
    run.records(*recs)
    tailer = WorkDirTailer(tmp_path)
    first = tailer.poll(max_bytes=2000)
    assert first.backlog_bytes > 0
    peeked = rows(first, peeks=True)
    assert [r["step"] for r in peeked if "coco/bbox_mAP" in r] == [1, 2, 3]
    assert any(r["loss"] != r["loss"] for r in peeked if "loss" in r)  # the NaN line
    assert peeked[-1] == recs[-2]  # the last train line, for "latest"
    got = rows(first)
    while True:
        upd = tailer.poll(max_bytes=2000)
        got += rows(upd)
        if not upd.backlog_bytes:
            break
    assert json.dumps(got) == json.dumps(recs)


def test_text_logs_surface_errors_tracebacks_lr_scaling_and_ap_table(tmp_path):
    work = copy_fixture("run_crashed", tmp_path)
    upd = WorkDirTailer(work).poll()
    kinds = [(e.kind, e.source) for e in upd.events]
    assert ("traceback", "stderr.log") in kinds
    tracebacks = [e.text for e in upd.events if e.kind == "traceback"]
    # rank0's block is whole although rank1 interleaved its own lines
    assert tracebacks[0].splitlines()[0] == "Traceback (most recent call last):"
    assert tracebacks[0].splitlines()[-1] == "RuntimeError: loss is nan, training diverged"
    assert "raise RuntimeError('loss is nan, training diverged')" in tracebacks[0]
    assert "[rank" not in tracebacks[0]
    errors = [e.text for e in upd.events if e.kind == "error"]
    assert errors[0] == "RuntimeError: loss is nan, training diverged"
    assert "ChildFailedError" in errors[-1]
    nonfinite = [e.text for e in upd.events if e.kind == "nonfinite"]
    assert len(nonfinite) == 1 and "[1][150/200]" in nonfinite[0]
    assert upd.progress.epoch == 1 and upd.progress.iter == 200 and upd.progress.total == 200
    assert upd.progress.eta_s == 3 * 3600 + 20 * 60
    assert tailer_max_epochs(work) == 12  # from the config dump in the text log

    work = copy_fixture("run_2epochs", tmp_path)
    upd = WorkDirTailer(work).poll()
    lr = [e for e in upd.events if e.kind == "lr_scaling"]
    assert lr and all("\x1b" not in e.text for e in lr)  # colour codes stripped
    assert lr[0].text.endswith("LR is set based on batch size of 16 and the current batch size "
                               "is 4. Scaling the original LR by 0.25.")
    table = [e.text for e in upd.events if e.kind == "coco_table"]
    assert len(table) == 24 and {e.source for e in upd.events if e.kind == "coco_table"} == {"stdout.log"}
    assert table[12] == " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.365"
    assert not [e for e in upd.events if e.kind in ("error", "traceback")]
    assert upd.max_epochs == 2


def tailer_max_epochs(work: Path) -> int | None:
    tailer = WorkDirTailer(work)
    tailer.poll()
    return tailer.max_epochs


def test_traceback_split_across_polls_is_one_block(tmp_path):
    stderr = tmp_path / "stderr.log"
    stderr.write_text('Traceback (most recent call last):\n  File "train.py", line 3, in <module>\n')
    tailer = WorkDirTailer(tmp_path)
    assert not [e for e in tailer.poll().events if e.kind == "traceback"]
    with open(stderr, "a") as fh:
        fh.write("    main()\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    events = tailer.poll().events
    assert [e.kind for e in events] == ["traceback", "error"]
    assert events[0].text.count("\n") == 3
    assert events[1].text.startswith("torch.OutOfMemoryError: CUDA out of memory")


def test_text_progress_line_parsing(tmp_path):
    run = Run(tmp_path)
    rec = train_record(5050, epoch=2)
    run.log(mmlog.train_text_line(rec, 50, 5000, eta="1 day, 2:03:04"))
    p = WorkDirTailer(tmp_path).poll().progress
    assert (p.epoch, p.iter, p.total, p.by_epoch) == (2, 50, 5000, True)
    assert p.eta_s == 86400 + 2 * 3600 + 3 * 60 + 4 and p.time == 0.5


def test_checkpoints_config_and_missing_dir(tmp_path):
    assert WorkDirTailer(tmp_path / "nope").poll().work_dir_missing
    (tmp_path / "cfg.py").write_text("train_cfg = dict(max_epochs=24, type='EpochBasedTrainLoop')\n")
    (tmp_path / "epoch_1.pth").write_bytes(b"")
    tailer = WorkDirTailer(tmp_path)
    upd = tailer.poll()
    assert upd.max_epochs == 24 and upd.checkpoints == [str(tmp_path / "epoch_1.pth")]
    assert tailer.poll().checkpoints is None  # unchanged
    (tmp_path / "best_coco_bbox_mAP_epoch_1.pth").write_bytes(b"")
    assert len(tailer.poll().checkpoints) == 2


def test_overlong_line_is_dropped_not_buffered(tmp_path, monkeypatch):
    monkeypatch.setattr("launcher.monitor.follow.MAX_LINE", 1000)
    run = Run(tmp_path)
    run.append(run.scalars, "x" * 5000)
    tailer = WorkDirTailer(tmp_path)
    assert tailer.poll().bad_lines == 1
    run.append(run.scalars, "x" * 100 + "\n" + line(train_record(50)))
    assert steps(tailer.poll()) == [50]


def test_rich_is_imported_only_when_rendering():
    # test_boundaries covers textual and the training stack; rich must stay lazy too,
    # so polling from the TUI's worker or a script costs no rich import.
    code = ("import sys, launcher.monitor.workdir, launcher.monitor.metrics, launcher.cli.watch_view; "
            "print('rich' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1], env={**os.environ, "PYTHONPATH": "."})
    assert out.stdout.strip() == "False"


def test_file_that_stats_but_cannot_be_read_is_no_backlog(tmp_path):
    # A scalars.json that stat() sees but open() refuses (here a directory, since tests may
    # run as root and ignore permissions): catching up must end, not retry it forever.
    from launcher.monitor.metrics import JobMetrics
    from launcher.monitor.run_follower import catch_up

    run = Run(tmp_path, create=False)
    run.scalars.mkdir(parents=True)
    tailer = WorkDirTailer(tmp_path)
    assert tailer.poll().backlog_bytes == 0
    assert catch_up(tailer, JobMetrics()) is False
