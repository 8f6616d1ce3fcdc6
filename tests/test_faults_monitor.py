"""The monitor's fault rules on work dirs written here: the rank that failed first, a stall,
an lr that a resume got wrong. torchrun's failure report is produced by torch's own
formatter (ChildFailedError.format_msg), not typed in; the real-process versions of these
faults are in test_faults_jobs.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from launcher.monitor import lr_resume, run_checks
from launcher.monitor.metrics import JobMetrics
from launcher.monitor.rank_failure import read_rank_failure
from launcher.monitor.workdir import WorkDirTailer


def torchrun_report(tmp_path: Path, failures: dict[int, tuple[int, str | None]]) -> str:
    """The report torchrun prints for FAILURES ({rank: (exitcode, traceback raised or None)}),
    with the error files @record would write."""
    errors = pytest.importorskip("torch.distributed.elastic.multiprocessing.errors")
    procs = {}
    for rank, (code, raised) in failures.items():
        error_file = "<N/A>"
        if raised:
            error_file = str(tmp_path / f"error-{rank}.json")
            Path(error_file).write_text(json.dumps({"message": {"message": raised.splitlines()[-1], "extraInfo": {
                "py_callstack": raised, "timestamp": str(int(time.time()))}}}))
            time.sleep(0.02)  # distinct mtimes, in rank order
        procs[rank] = errors.ProcessFailure(local_rank=rank, pid=4000 + rank, exitcode=code, error_file=error_file)
    return "\n" + errors.ChildFailedError("train_entry.py", procs).format_msg() + "\n"


RAISED = 'Traceback (most recent call last):\n  File "train_entry.py", line 9, in main\nRuntimeError: {}'


def test_a_raising_rank_is_named_with_its_own_traceback(tmp_path):
    (tmp_path / "stderr.log").write_text("noise\n" + torchrun_report(tmp_path, {1: (1, RAISED.format("boom on 1"))}))
    failed = read_rank_failure(tmp_path)
    assert failed["rank"] == 1 and failed["exitcode"] == 1
    assert failed["traceback"].endswith("RuntimeError: boom on 1") and "line 9, in main" in failed["traceback"]
    assert failed["summary"].startswith("rank 1 (local rank 1) failed first: raised")


def test_a_killed_rank_comes_before_the_peer_whose_collective_then_failed(tmp_path):
    # rank 0 fails in its collective once rank 1 is gone, and torchrun's whole-second timestamps
    # may make rank 0 its "root cause": the rank killed outright is the first failure.
    report = torchrun_report(tmp_path, {0: (1, RAISED.format("Connection closed by peer")), 1: (-9, None)})
    (tmp_path / "stderr.log").write_text(report)
    failed = read_rank_failure(tmp_path)
    assert failed["rank"] == 1 and failed["signal"] == "SIGKILL"
    assert failed["traceback"] == "Signal 9 (SIGKILL) received by PID 4001"
    assert failed["others"] == [{"rank": 0, "exitcode": 1, "signal": None}]


def test_of_two_raising_ranks_the_earlier_error_file_wins(tmp_path):
    report = torchrun_report(tmp_path, {0: (1, RAISED.format("first")), 1: (1, RAISED.format("second"))})
    os.utime(tmp_path / "error-0.json", (time.time() + 5, time.time() + 5))  # rank 0 wrote later
    (tmp_path / "stderr.log").write_text(report)
    assert read_rank_failure(tmp_path)["rank"] == 1


def test_only_a_failed_job_gets_a_rank_failure(tmp_path):
    (tmp_path / "stderr.log").write_text(torchrun_report(tmp_path, {1: (-9, None)}))
    assert run_checks.annotate({"alerts": []}, tmp_path, "running")["rank_failure"] is None
    snap = run_checks.annotate({"alerts": []}, tmp_path, "failed")
    assert snap["alerts"][0]["kind"] == "rank_failed" and "rank 1" in snap["alerts"][0]["message"]


def _train_lines(run_dir: Path, folder: str, rows: list[dict]) -> Path:
    path = run_dir / folder / "vis_data" / "scalars.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_stalled_after_several_usual_intervals_of_silence_while_running(tmp_path):
    # Logged every 10 iterations at 0.5 s each: the usual interval is 5 s, the limit 3x5 + 30 = 45 s.
    path = _train_lines(tmp_path, "20260101_000000",
                        [{"lr": 0.01, "loss": 1.0, "time": 0.5, "epoch": 1, "iter": i, "step": i}
                         for i in range(10, 110, 10)])
    last = time.time()
    os.utime(path, (last, last))

    def kinds(status, now):
        metrics = JobMetrics()
        metrics.update(WorkDirTailer(tmp_path).poll())
        return [a["kind"] for a in metrics.snapshot(job_status=status, now=now)["alerts"]]

    assert kinds("running", last + 40) == []
    assert kinds("running", last + 46) == ["stalled"]
    assert kinds("failed", last + 46) == []  # processes gone: a failure, not a stall
    assert kinds(None, last + 46) == []  # a bare work dir: whether anything lives is unknown


def _plan(run_dir: Path) -> None:
    (run_dir / "plan.json").write_text(json.dumps({"resolved": {
        "lr": 0.02, "warmup_iters": 500, "warmup_start_factor": 0.001, "milestones": [8, 11], "lr_gamma": 0.1}}))


def test_lr_after_resume_matches_the_schedule_or_is_flagged(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    for run_dir, resumed_lr in ((good, 0.002), (bad, 0.02)):  # epoch 10 is past milestone 8: 0.002
        run_dir.mkdir()
        _plan(run_dir)
        _train_lines(run_dir, "20260101_000000", [{"lr": 0.02, "epoch": 1, "iter": 600, "step": 600}])
        _train_lines(run_dir, "20260102_000000", [{"lr": resumed_lr, "epoch": 10, "iter": 9050, "step": 9050}])
    assert lr_resume.lr_after_resume_alerts(good) == []
    alerts = lr_resume.lr_after_resume_alerts(bad)
    assert [a["kind"] for a in alerts] == ["lr-after-resume"] and "schedule says 0.002" in alerts[0]["message"]


def test_a_resume_that_restarted_warmup_is_flagged(tmp_path):
    _plan(tmp_path)
    _train_lines(tmp_path, "20260101_000000", [{"lr": 0.02, "epoch": 1, "iter": 600, "step": 600}])
    # Warmup restarted: the lr of iteration 0 of the warmup, at global step 1250.
    _train_lines(tmp_path, "20260102_000000", [{"lr": 0.02 * 0.001, "epoch": 2, "iter": 1250, "step": 1250}])
    assert [a["kind"] for a in lr_resume.lr_after_resume_alerts(tmp_path)] == ["lr-after-resume"]
    assert lr_resume.expected_lr({"lr": 0.02, "warmup_iters": 500, "warmup_start_factor": 0.001}, 1, 1)[0] == \
        pytest.approx(0.02 * 0.001)


def test_the_cosine_schedule_is_mmengines_own_and_a_restarted_one_is_flagged(tmp_path):
    # The demo preset's schedule, stepped by MMEngine's own schedulers the way its
    # ParamSchedulerHook does (iteration-wise warmup, the cosine once an epoch): every
    # logged lr is one expected_lr allows.
    torch = pytest.importorskip("torch")
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR

    base, warmup, iters, epochs = 0.001, 20, 30, 24
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    linear = LinearLR(opt, start_factor=0.001, by_epoch=False, begin=0, end=warmup)
    cosine = CosineAnnealingLR(opt, by_epoch=True, begin=0, end=epochs, T_max=epochs, eta_min_ratio=0.01)
    resolved = {"lr": base, "warmup_iters": warmup, "warmup_start_factor": 0.001, "milestones": None,
                "lr_cosine": {"begin": 0, "T_max": epochs, "eta_min": None, "eta_min_ratio": 0.01,
                              "by_epoch": True, "iter_based": False}}
    for epoch in range(1, epochs + 1):
        for i in range(iters):
            step = (epoch - 1) * iters + i + 1
            lr = opt.param_groups[0]["lr"]
            assert any(lr == pytest.approx(c, rel=1e-6) for c in lr_resume.expected_lr(resolved, step, epoch)), \
                (epoch, step, lr)
            linear.step()
        cosine.step()

    # A resume that restarted the cosine (the base lr again at epoch 12) is flagged.
    (tmp_path / "plan.json").write_text(json.dumps({"resolved": resolved}))
    _train_lines(tmp_path, "20260101_000000", [{"lr": base, "epoch": 1, "iter": 30, "step": 30}])
    _train_lines(tmp_path, "20260102_000000", [{"lr": base, "epoch": 12, "iter": 331, "step": 331}])
    assert [a["kind"] for a in lr_resume.lr_after_resume_alerts(tmp_path)] == ["lr-after-resume"]
    # One converted to iterations is not judged without the epoch's length.
    assert lr_resume.expected_lr(dict(resolved, lr_cosine=dict(resolved["lr_cosine"], iter_based=True)), 331, 12) \
        is None


@pytest.mark.parametrize("form", ["by_epoch=False", "convert_to_iter_based"])
def test_a_cosine_stepped_each_iteration_is_mmengines_own_and_a_restarted_one_is_flagged(tmp_path, form):
    # MMEngine's own schedulers, stepped each iteration as its ParamSchedulerHook does: a cosine
    # written in iterations, and one written in epochs that the Runner converts with the epoch's
    # length (what convert_to_iter_based=True does). Every logged lr is one expected_lr allows.
    torch = pytest.importorskip("torch")
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR

    base, warmup, length, epochs = 0.02, 20, 30, 6
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    linear = LinearLR(opt, start_factor=0.001, by_epoch=False, begin=0, end=warmup)
    if form == "by_epoch=False":
        cosine = CosineAnnealingLR(opt, by_epoch=False, begin=10, end=epochs * length, T_max=epochs * length - 10,
                                   eta_min=0.0002)
        written = {"begin": 10, "T_max": epochs * length - 10, "eta_min": 0.0002, "eta_min_ratio": None,
                   "by_epoch": False, "iter_based": False}
    else:
        cosine = CosineAnnealingLR.build_iter_from_epoch(opt, by_epoch=True, begin=1, end=epochs, T_max=epochs - 1,
                                                         eta_min_ratio=0.05, epoch_length=length)
        written = {"begin": 1, "T_max": epochs - 1, "eta_min": None, "eta_min_ratio": 0.05,
                   "by_epoch": True, "iter_based": True}
    resolved = {"lr": base, "warmup_iters": warmup, "warmup_start_factor": 0.001, "milestones": None,
                "lr_cosine": written}
    lrs = {}
    for step in range(1, epochs * length + 1):
        epoch = (step - 1) // length + 1
        lrs[step] = lr = opt.param_groups[0]["lr"]
        expected = lr_resume.expected_lr(resolved, step, epoch, length)
        assert any(lr == pytest.approx(c, rel=lr_resume.REL_TOL) for c in expected), (step, lr, expected)
        linear.step()
        cosine.step()
    assert lrs[epochs * length] < base / 5  # it did decay

    # In a run dir: the resumed folder's text log gives the epoch's length.
    (tmp_path / "plan.json").write_text(json.dumps({"resolved": resolved}))
    _train_lines(tmp_path, "20260101_000000", [{"lr": lrs[30], "epoch": 1, "iter": 30, "step": 30}])
    resumed = _train_lines(tmp_path, "20260102_000000", [{"lr": lrs[100], "epoch": 4, "iter": 100, "step": 100}])
    text_log = tmp_path / "20260102_000000" / "20260102_000000.log"
    if form == "convert_to_iter_based":
        assert lr_resume.lr_after_resume_alerts(tmp_path) == []  # no progress line yet: not judged...
        text_log.write_text(f"2026/01/02 00:00:09 - mmengine - INFO - Epoch(train)  [4][10/{length}]  "
                            f"base_lr: 2.0000e-02 lr: {lrs[100]:.4e}  eta: 0:00:05  time: 0.2000\n")
    assert lr_resume.lr_after_resume_alerts(tmp_path) == []  # ...then judged right
    # The same resume had the cosine restarted: the base lr at step 100.
    lr_resume._checked.clear()
    resumed.write_text(json.dumps({"lr": base, "epoch": 4, "iter": 100, "step": 100}) + "\n")
    assert [a["kind"] for a in lr_resume.lr_after_resume_alerts(tmp_path)] == ["lr-after-resume"]
