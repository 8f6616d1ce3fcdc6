"""What a new user meets on the command line (issue 24): the plan says what will run, a misspelled
config key fails before launch, a check that needs a missing file does not pass, and a bad output
place is one line. Real CLI processes (tests/conftest.run_cli)."""

from __future__ import annotations

from tui_support import add_job


def test_report_to_an_existing_file_or_proc_is_one_line(cli, tmp_path):
    """`report -o` at a file, below a file or in /proc: one line, exit 2, no traceback (was
    FileExistsError / FileNotFoundError with exit 1), and the file is left as it was."""
    job = add_job("20261207-040000-aaaa")
    taken = tmp_path / "taken.md"
    taken.write_text("the user's notes\n")
    for place, why in ((taken, "File exists"), (taken / "sub", "Not a directory"),
                       ("/proc/frcnn-tui-report", "No such file or directory")):
        result = cli("report", job.id, "-o", str(place))
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"frcnn-tui: error: cannot write the report into {place}: {why}"
    assert taken.read_text() == "the user's notes\n"


def test_resume_of_a_finished_job_refuses_and_starts_nothing(cli):
    # Succeeded at its last epoch: resuming would load epoch_2.pth and train nothing.
    from pathlib import Path

    from launcher.jobs import job_status, registry, status_words

    record = add_job("20261128-231000-bbbb", status="succeeded", epochs=2, max_epochs=2)
    run_dir = Path(record.run_dir)
    (run_dir / "epoch_2.pth").write_bytes(b"")
    (run_dir / "last_checkpoint").write_text(str(run_dir / "epoch_2.pth"))
    result = cli("resume", record.id)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"frcnn-tui: error: job {record.id} already finished at epoch 2/2; nothing to resume"]
    after = registry.find(record.id)
    assert after.resumes == 0 and after.pid == record.pid  # nothing was started or recorded
    assert job_status.status(after) == status_words.SUCCEEDED


# -- the plan says what will run (issue 24 items 4, 5, 6) ---------------------------------------

def _tiny(tmp_path):
    from training_helpers import make_tiny_dataset

    return make_tiny_dataset(tmp_path / "data")


def _plan_json(result) -> dict:
    import json

    return json.loads(result.stdout)


def test_plan_summary_shows_the_cfg_options_that_will_run(cli, tmp_path):
    """--cfg-options max_epochs=2 and lr=0.1: the summary says 2 epochs and lr 0.1 beside the
    rule's 0.002 (it said 'schedule 24 epochs' and 'lr 0.002' while the checklist said otherwise);
    plan --json's lr is the lr that runs, with the rule's beside it."""
    data = _tiny(tmp_path)
    args = ["plan", "--preset", "demo-cpu", "--cpu", "--nproc", "2", "--data-root", str(data), "--cfg-options",
            "train_cfg.max_epochs=2", "optim_wrapper.optimizer.lr=0.1"]
    text = cli(*args)
    assert text.returncode == 1, text.stderr  # the schedule check fails: 2 of 24 epochs
    lines = {line.split()[0]: line for line in text.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert lines["lr"].split() == ["lr", "0.1", "(set", "by", "--cfg-options:", "50×", "the", "linear", "rule's",
                                   "0.002", "×", "(1×2×2)/4", "=", "0.002)"], lines["lr"]
    assert lines["schedule"].strip() == "schedule  2 epochs, a cosine lr (the preset's: 24 epochs, milestones [])"
    assert "lr 0.1 is 50× the linear rule's 0.002" in text.stdout  # the checklist and the summary agree
    plan = _plan_json(cli(*args, "--json"))
    assert (plan["lr"], plan["rule_lr"], plan["lr_set_by"], plan["lr_override_ratio"]) == (0.1, 0.002, "--cfg-options",
                                                                                             50.0)
    assert plan["what_runs"]["epochs"] == 2 and plan["what_runs"]["schedule_changed"] is True
    plain = cli("plan", "--preset", "demo-cpu", "--cpu", "--nproc", "2", "--data-root", str(data))
    assert "  schedule  24 epochs, a cosine lr\n" in plain.stdout
    assert "  lr        0.002   (linear rule: " in plain.stdout


def test_a_misspelled_config_key_fails_the_plan_and_launches_nothing(cli, tmp_path):
    """train_cfg.max_epoch (no s) passed every check and killed each rank with a TypeError; now the
    checklist fails on it, naming the nearest key, and launch refuses. A key a head takes through
    **kwargs (rpn_head.reg_decoded_bbox reaches AnchorHead) and a hook's own key still pass."""
    from launcher.jobs import registry

    data = _tiny(tmp_path)
    base = ["--preset", "demo-cpu", "--cpu", "--nproc", "2", "--data-root", str(data), "--cfg-options"]
    said = "unknown key train_cfg.max_epoch: EpochBasedTrainLoop takes no 'max_epoch' (did you mean max_epochs?)"
    refused = cli("launch", *base, "train_cfg.max_epoch=2")
    assert refused.returncode == 1 and "launch refused, checklist fails" in refused.stderr, refused.stderr
    assert said in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert registry.load_all() == []
    shown = cli("plan", *base, "train_cfg.max_epoch=2")
    assert shown.returncode == 1 and f"FAIL config    {said}" in shown.stdout, shown.stdout
    assert "fix: spell it train_cfg.max_epochs" in shown.stdout
    checks = {c["id"]: c for c in _plan_json(cli("plan", *base, "model.roi_head.bbox_head.num_classe=3",
                                                 "optim_wrapper.optimizer.betas=[0.9,0.99]",
                                                 "model.rpn_head.reg_decoded_bbox=True",
                                                 "param_scheduler.0.type=LinarLR",
                                                 "default_hooks.checkpoint.max_keep_ckpts=1",
                                                 "default_hooks.logger.intervall=1", "--json"))["checklist"]}
    assert checks["config"]["status"] == "fail"
    assert checks["config"]["detail"] == (
        "unknown type param_scheduler.0.type=LinarLR (did you mean LinearLR?); unknown key "
        "default_hooks.logger.intervall: LoggerHook takes no 'intervall' (did you mean interval?); unknown key "
        "model.roi_head.bbox_head.num_classe: Shared2FCBBoxHead takes no 'num_classe' (did you mean num_classes?): "
        "every rank would stop at start")
    assert checks["config"]["hint"] == "spell it param_scheduler.0.type=LinearLR"
    fine = _plan_json(cli("plan", *base, "train_cfg.max_epochs=24", "--json"))
    assert "config" not in {c["id"] for c in fine["checklist"]}, fine["checklist"]


def test_eval_does_not_pass_without_the_val_annotations(cli):
    """plan --data-root /nonexistent showed 'PASS eval CocoMetric bbox on …instances_val2017.json'
    right above 'FAIL data missing: … val ann file'."""
    result = cli("plan", "--preset", "r50-fpn-1x", "--cpu", "--data-root", "/nonexistent", "--json")
    checks = {c["id"]: c for c in _plan_json(result)["checklist"]}
    assert checks["eval"]["status"] == "fail", checks["eval"]
    assert checks["eval"]["detail"] == ("CocoMetric bbox on /nonexistent/annotations/instances_val2017.json, "
                                        "which is missing: nothing can be evaluated")
    assert checks["data"]["status"] == "fail"


def test_the_plan_screens_summary_says_what_will_run(fake_gpus, tmp_path):
    """The Plan screen's summary line, once the plan is made, follows the resolved config: with
    train_cfg.max_epochs=2 and lr=0.1 in cfg-options it said 'lr 0.002 … · 24 ep' while the
    checklist said max_epochs=2 (real make_plan in the screen's worker, on the tiny shapes set)."""
    import asyncio

    from textual.widgets import Input, Static

    from tui_support import make_app, wait_for
    from tui.screens.plan import PlanScreen

    fake_gpus("none")
    data = _tiny(tmp_path)

    async def drive() -> None:
        app = make_app()
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause()
            app.open_plan("demo-cpu")
            await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen.query("#data-root")
                           and app.screen.cpu is not None, what="the Plan screen")
            screen = app.screen
            screen.query_one("#data-root", Input).value = str(data)
            screen.query_one("#cfg", Input).value = "train_cfg.max_epochs=2 optim_wrapper.optimizer.lr=0.1"
            await wait_for(pilot, lambda: screen.plan is not None and screen.planned_generation == screen.generation,
                           timeout=180, what="the checklist")
            summary = str(screen.query_one("#lr-view", Static).content)
            assert summary.splitlines()[0] == "lr  0.1   cfg-options: 50× the linear rule's 0.002", summary
            assert "· 2 ep (preset 24 ep) ·" in summary, summary
            before = screen.generation
            screen.query_one("#cfg", Input).value = ""
            await wait_for(pilot, lambda: screen.generation > before and screen.plan is not None
                           and screen.planned_generation == screen.generation, timeout=180, what="the checklist")
            summary = str(screen.query_one("#lr-view", Static).content)
            assert summary.splitlines()[0] == "lr  0.002   linear rule" and "· 24 ep ·" in summary, summary

    asyncio.run(drive())


def test_watch_says_how_it_ends_and_q_ends_it_in_a_terminal(frcnn_home, tmp_path):
    # A real terminal (tmux): the live view names its keys, and q ends it (exit 0) while the job runs on.
    import subprocess
    import sys

    import pytest

    from conftest import GPU_SCENARIOS, REPO
    from launcher.jobs import job_status, registry, status_words
    from test_tui_tmux import TMUX, Tmux

    if TMUX is None:
        pytest.skip("tmux is not installed")
    record = add_job("20261129-093000-cccc", status="running", epochs=1, max_epochs=2)
    tmux = Tmux(tmp_path / "tmux.sock", "watch")
    try:
        tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.name, "-x", "100", "-y", "40", "-c", str(REPO),
             "-e", f"FRCNN_TUI_HOME={frcnn_home}", "-e", f"FRCNN_TUI_FAKE_GPUS={GPU_SCENARIOS / 'eight.json'}",
             "-e", "TERM=xterm-256color", "-e", "PS1=$ ", "sh")
        tmux("send-keys", "-t", tmux.name, f"{sys.executable} -m launcher.cli watch {record.id}; echo \"watch exited with $?\"",
             "Enter")
        tmux.wait_for("q or ctrl+c ends the watch; the job keeps running")
        tmux.keys("q")
        tmux.wait_for("watch exited with 0", timeout=15)
        assert job_status.status(registry.find(record.id)) == status_words.RUNNING
    finally:
        subprocess.run([TMUX, "-S", str(tmux.socket), "kill-server"], capture_output=True)
