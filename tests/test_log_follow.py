"""The one file follower, as the TUI's log pane and `frcnn-tui logs` (-f, --json) use it."""

import json
import os
import subprocess
import sys
import time

import psutil
from conftest import REPO

from launcher.jobs import registry
from launcher.jobs.registry import JobRecord
from launcher.monitor.follow import FollowedFile
from tui.watcher import _LogPaneSource


def lines_of(f: FollowedFile) -> list[bytes]:
    return [line for data, _ in f.read_lines() for line in data.splitlines(keepends=True)]


def test_opening_near_the_end_skips_the_cut_line(tmp_path):
    path = tmp_path / "stdout.log"
    path.write_bytes(b"first line\nsecond\nthird\n")
    f = FollowedFile(path)
    f.stat()
    f.start_near_end(10)  # lands inside "second"
    assert lines_of(f) == [b"third\n"]


def test_a_display_keeps_an_overlong_line_in_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr("launcher.monitor.follow.MAX_LINE", 10)
    path = tmp_path / "stdout.log"
    path.write_bytes(b"x" * 25)  # no newline yet: more than MAX_LINE would wait in memory
    kept, dropped = FollowedFile(path, keep_overlong=True), FollowedFile(path)
    seen = {}
    for f in (kept, dropped):
        f.stat()
        seen[f] = lines_of(f)
    with open(path, "ab") as fh:
        fh.write(b"y\nok\n")
    for f in (kept, dropped):
        f.stat()
        seen[f] += lines_of(f)
    assert b"".join(seen[kept]) == b"x" * 25 + b"y\nok\n"
    assert seen[dropped] == [b"ok\n"] and dropped.bad == 1


def test_log_pane_reopens_at_the_end_of_a_rewritten_file(tmp_path):
    path = tmp_path / "stdout.log"
    source = _LogPaneSource(path)
    assert source.read() == []  # not there yet
    path.write_bytes(b"epoch 1\nloading 10%\rloading 100%\n")
    assert source.read() == ["epoch 1", "loading 100%"]
    path.write_bytes(b"again\n")  # shorter: rewritten
    assert source.read() == ["again"]


def job_record(tmp_path, pid: int, job_id: str = "20261130-120000-logs") -> JobRecord:
    rec = JobRecord(id=job_id, name="logs", preset="demo-cpu", run_dir=str(tmp_path), gpu_ids=[], cpu=True,
                    nproc_per_node=1, nodes=1, pid=pid, pgid=pid, create_time=psutil.Process(pid).create_time(),
                    started_at=time.time(), port=29500, command=["true"], python=sys.executable)
    registry.save(rec)
    return rec


def test_logs_prints_the_bytes_or_json_lines(tmp_path, cli):
    rec = job_record(tmp_path, os.getpid(), job_id="20261130-120000-done")
    (tmp_path / "stdout.log").write_bytes(b"one\r\ntwo\nno newline")
    raw = subprocess.run([sys.executable, "-m", "launcher.cli", "logs", rec.id], capture_output=True,
                         cwd=REPO, stdin=subprocess.DEVNULL)
    assert raw.returncode == 0 and raw.stdout == b"one\r\ntwo\nno newline"
    result = cli("logs", rec.id, "--json")
    assert result.returncode == 0
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"job": rec.id, "stream": "stdout", "line": text} for text in ("one", "two", "no newline")]
    missing = cli("logs", rec.id, "--stderr", "--json")
    assert missing.returncode == 1 and "stderr.log does not exist" in missing.stderr


def test_logs_follow_json_streams_until_the_job_ends(tmp_path, cli):
    log = tmp_path / "stdout.log"
    log.write_text("")
    job_id = "20261130-120000-live"
    writer = subprocess.Popen(
        ["bash", "-c", f"for i in 1 2 3; do echo line$i >> {log}; sleep 0.4; done; printf tail >> {log}"],
        env={**os.environ, "FRCNN_TUI_JOB_ID": job_id}, start_new_session=True)
    try:
        rec = job_record(tmp_path, writer.pid, job_id=job_id)
        result = cli("logs", rec.id, "-f", "--json", timeout=60)
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 0
    assert [json.loads(line)["line"] for line in result.stdout.splitlines()] == ["line1", "line2", "line3", "tail"]
