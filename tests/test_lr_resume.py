"""The lr a resumed run logs, checked against its schedule (launcher/monitor/lr_resume.py), on
work dirs written here: a resume at the right point of the schedule is silent, a resume that got
the lr wrong or restarted its warmup is flagged; MMEngine's own cosine schedulers are the yardstick
for the demo's schedule. The real-process resume is in test_faults_jobs.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.monitor import lr_resume


def _train_lines(run_dir: Path, folder: str, rows: list[dict]) -> Path:
    path = run_dir / folder / "vis_data" / "scalars.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


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
