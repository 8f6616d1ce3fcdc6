import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).with_name("data")))

from mmlog import Run, copy_fixture, train_record  # noqa: E402

from conftest import default_signals  # noqa: E402
from launcher.errors import UserError  # noqa: E402
from launcher.cli.watch_view import run_watch  # noqa: E402


def test_once_json_prints_one_strict_json_object(tmp_path, capsys):
    work = copy_fixture("run_2epochs", tmp_path)
    (work / "epoch_2.pth").write_bytes(b"")
    assert run_watch(work, once=True, as_json=True, reference_ap=37.4) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    snap = json.loads(out, parse_constant=pytest.fail)  # no NaN/Infinity tokens
    assert snap["work_dir"] == str(work) and snap["status"] == "finished"
    assert snap["progress"]["epoch"] == 2 and snap["progress"]["iters_per_epoch"] == 100
    assert [m["epoch"] for m in snap["map_by_epoch"]] == [1, 2]
    assert snap["best"]["percent"] == 36.5 and snap["best"]["gap_to_reference"] == -0.9
    assert snap["best"]["checkpoint"] == str(work / "epoch_2.pth")
    assert snap["gpus"] == [] and "series" not in snap


def test_once_json_on_a_crashed_run_with_nan(tmp_path, capsys):
    work = copy_fixture("run_crashed", tmp_path)
    assert run_watch(work, once=True, as_json=True, job_status=lambda: "failed") == 0
    snap = json.loads(capsys.readouterr().out, parse_constant=pytest.fail)
    assert snap["status"] == "failed"
    assert snap["errors"]["first_error_line"] == "RuntimeError: loss is nan, training diverged"
    assert snap["alerts"][0]["kind"] == "nonfinite_loss"


def test_once_rich_view(tmp_path, capsys):
    work = copy_fixture("run_2epochs", tmp_path)
    # The preset's AP is a target at its own epoch: compared there, never at another one.
    assert run_watch(work, once=True, as_json=False, reference_ap=37.4, target={"ap": 37.4, "epoch": 2}) == 0
    out = capsys.readouterr().out
    assert "best 0.365 (36.5%) at epoch 2" in out and "target 37.4 at epoch 2 (-0.9)" in out
    assert "epoch 2/2" in out and "finished" in out


def test_bare_work_dir_without_logs(tmp_path, capsys):
    assert run_watch(tmp_path, once=True, as_json=True) == 0
    snap = json.loads(capsys.readouterr().out)
    assert snap["status"] == "waiting" and snap["progress"]["fraction"] is None


def test_missing_work_dir_is_a_user_error(tmp_path):
    with pytest.raises(UserError):
        run_watch(tmp_path / "nope", once=True, as_json=True)


def test_live_json_until_the_job_ends(tmp_path, capsys):
    run = Run(tmp_path)
    run.records(train_record(50))
    states = iter(["running", "running", "exited"])

    def job_status():
        state = next(states)
        if state == "exited":
            run.records(train_record(100))  # written just before the process went away
        return state

    assert run_watch(tmp_path, once=False, as_json=True, job_status=job_status, interval=0.01) == 0
    snaps = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    assert snaps[0]["status"] == "running" and snaps[-1]["status"] == "exited"
    assert snaps[-1]["latest"]["step"] == 100
    assert len(snaps) == 2  # nothing changed on the second poll, so nothing printed


def test_live_rich_view_ends_with_the_job(tmp_path, capsys):
    Run(tmp_path).records(train_record(50))
    states = iter(["running", "finished"])
    assert run_watch(tmp_path, once=False, as_json=False, job_status=lambda: next(states),
                     interval=0.01, gpu_indices=[0]) == 0
    assert "finished" in capsys.readouterr().out


def test_ctrl_c_exits_cleanly_with_0(tmp_path):
    Run(tmp_path).records(train_record(50))

    def interrupted():
        raise KeyboardInterrupt

    assert run_watch(tmp_path, once=False, as_json=True, job_status=interrupted) == 0


def test_a_failing_job_status_does_not_stop_the_watch(tmp_path, capsys):
    Run(tmp_path).records(train_record(50))
    calls = iter([RuntimeError("registry busy"), "exited"])

    def flaky():
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert run_watch(tmp_path, once=False, as_json=True, job_status=flaky, interval=0.01) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["status"] == "exited"


def test_gpu_rows_show_only_the_jobs_gpus(tmp_path, capsys, fake_gpus):
    fake_gpus("four_one_busy")
    Run(tmp_path).records(train_record(50))
    assert run_watch(tmp_path, once=True, as_json=True, gpu_indices=[1, 3]) == 0
    gpus = json.loads(capsys.readouterr().out)["gpus"]
    assert [g["index"] for g in gpus] == [1, 3]
    assert all(g["memory_total_mib"] and g["process_count"] is not None for g in gpus)
    assert run_watch(tmp_path, once=True, as_json=False, gpu_indices=[1]) == 0
    assert "MiB" in capsys.readouterr().out


def test_unreadable_gpu_inventory_shows_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRCNN_TUI_FAKE_GPUS", str(tmp_path / "missing.json"))
    Run(tmp_path).records(train_record(50))
    assert run_watch(tmp_path, once=True, as_json=True, gpu_indices=[0]) == 0
    assert json.loads(capsys.readouterr().out)["gpus"] == []


def test_real_sigint_ends_a_live_watch_with_0(tmp_path):
    import os
    import signal
    import subprocess
    import time

    Run(tmp_path).records(train_record(50))
    code = ("import sys; from pathlib import Path; from launcher.cli.watch_view import run_watch; "
            "sys.exit(run_watch(Path(sys.argv[1]), once=False, as_json=True, interval=0.1))")
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=repo,
                            env={**os.environ, "PYTHONPATH": str(repo)}, preexec_fn=default_signals)
    try:
        assert json.loads(proc.stdout.readline())["latest"]["step"] == 50  # it is live
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err
