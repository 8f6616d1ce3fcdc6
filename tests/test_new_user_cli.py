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
