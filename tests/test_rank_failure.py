"""The rank that failed first and its own traceback (launcher/monitor/rank_failure.py), and the
rank_failed alert run_checks makes of it, on work dirs written here. torchrun's failure report is
produced by torch's own formatter (ChildFailedError.format_msg), not typed in; the real-process
versions are in test_faults_jobs.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from launcher.monitor import run_checks
from launcher.monitor.rank_failure import read_rank_failure


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
