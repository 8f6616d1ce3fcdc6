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
