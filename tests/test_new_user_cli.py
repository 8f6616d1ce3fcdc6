"""What a new user meets on the command line (issue 24): the plan says what will run, a misspelled
config key fails before launch, a check that needs a missing file does not pass, and a bad output
place is one line. Real CLI processes (tests/conftest.run_cli)."""

from __future__ import annotations

from test_tui_support import add_job


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

    from launcher.jobs import registry

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
    assert registry.status(after) == registry.SUCCEEDED


def test_watch_says_how_it_ends_and_q_ends_it_in_a_terminal(frcnn_home, tmp_path):
    # A real terminal (tmux): the live view names its keys, and q ends it (exit 0) while the job runs on.
    import subprocess
    import sys

    import pytest

    from conftest import GPU_SCENARIOS, REPO
    from launcher.jobs import registry
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
        assert registry.status(registry.find(record.id)) == registry.RUNNING
    finally:
        subprocess.run([TMUX, "-S", str(tmux.socket), "kill-server"], capture_output=True)
