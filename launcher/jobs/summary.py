"""One row per job for `jobs` and the TUI's jobs screen, and `logs`."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, Callable

from launcher import run_files
from launcher.jobs import backends, job_status, registry, status_words
from launcher.jobs.registry import JobRecord
from launcher.sentinel import report as sentinel_report


# Scalars parsed in order per look at a job; the rest of a long history is skimmed, which
# keeps progress and best mAP exact and a long history no dearer.
SUMMARY_POLL_BYTES = 1 << 20
# The alerts a job's row carries (`jobs` prints them under its table).
NEEDS_A_LOOK = ("stalled", "rank_failed", "divergence", "nonfinite_loss", "lr-after-resume")


class Followers:
    """The run followers (launcher.monitor.run_follower) of the jobs a list shows, kept from one
    refresh to the next, so each refresh reads only what the jobs wrote since the last (not every
    log again)."""

    def __init__(self) -> None:
        self._by_job: dict[tuple[str, str], Any] = {}
        # A refresh runs in a thread that a newer refresh does not stop: one job at a time.
        self._lock = threading.Lock()

    def snapshot(self, record: JobRecord, status: str) -> dict[str, Any]:
        from launcher.monitor.run_follower import RunFollower

        key = (record.id, str(record.run_path))
        with self._lock:
            follower = self._by_job.get(key)
            if follower is None:
                follower = self._by_job[key] = RunFollower.for_job(record, poll_bytes=SUMMARY_POLL_BYTES)
            follower.poll()
            return follower.snapshot(status)

    def keep_only(self, records: list[JobRecord]) -> None:
        """Forgets the jobs no longer listed."""
        keys = {(r.id, str(r.run_path)) for r in records}
        with self._lock:
            self._by_job = {k: v for k, v in self._by_job.items() if k in keys}


def _metrics_snapshot(record: JobRecord, status: str, followers: Followers | None) -> dict[str, Any] | None:
    from launcher.monitor.run_follower import RunFollower

    try:
        if followers is not None:
            return followers.snapshot(record, status)
        return RunFollower.for_job(record, poll_bytes=SUMMARY_POLL_BYTES).read_once(status)
    except OSError:
        return None


def summarize(record: JobRecord, followers: Followers | None = None) -> dict[str, Any]:
    """One job's row; ``followers`` (kept by a view that refreshes) makes it read only new lines."""
    status = job_status.status(record)
    row: dict[str, Any] = {
        "id": record.id, "name": record.name, "preset": record.preset, "status": status,
        "devices": backends.devices(record),
        "nodes": record.nodes, "host": record.host, "pid": record.pid, "run_dir": record.run_dir,
        "started_at": record.started_at, "exit_code": run_files.read_exit_status(record.run_path), "reference_ap": record.reference_ap,
        "resumes": record.resumes, "history": None,
        "progress": None, "best_map": None, "best_epoch": None, "alerts": [], "failed_rank": None,
        **backends.details(record),  # backend; for SLURM: job id, state (with the pending reason), restarts
    }
    row.update(sentinel_report.fields(record.run_path, status))  # events, sentinel gone, notify targets
    snap = _metrics_snapshot(record, status, followers)
    if snap:
        prog = snap.get("progress") or {}
        if prog.get("epoch") is not None:
            row["progress"] = f"epoch {prog.get('epoch')}/{prog.get('max_epochs') or '?'}"
        best = snap.get("best") or {}
        row["best_map"] = best.get("bbox_mAP")
        row["best_epoch"] = best.get("epoch")
        # What needs a look now: a stall while running, the rank that failed first (with its traceback),
        # a loss that diverged (what the sentinel raises as 'diverged'), an lr a resume got wrong.
        row["alerts"] = [a for a in snap.get("alerts") or [] if a.get("kind") in NEEDS_A_LOOK]
        row["failed_rank"] = snap.get("rank_failure")
        row["history"] = snap.get("history_line")  # "stopped by you at epoch 3, resumed"
        row["redone_per_restart"] = snap.get("redone_per_restart") or []  # work lost at each restart
    return row


def status_note(row: dict[str, Any]) -> str:
    """What to add to a job's status so a list shows it needs a look: a stall while it runs, or
    the rank that failed first. One place, so the CLI's table and the TUI's Jobs screen agree."""
    if any(a.get("kind") == "stalled" for a in row.get("alerts") or []):
        return "stalled"
    failed = row.get("failed_rank")
    return f"rank {failed['rank']}" if failed else sentinel_report.note(row)


def summarize_kept(record: JobRecord, index: Any, followers: Followers | None = None) -> dict[str, Any]:
    """One job's row, from ``index`` (summary_index.JobIndex) while nothing it was read from
    changed; otherwise summarized (and kept if the job has finished)."""
    sig = index.signature(record)  # before the summary: a change while it reads is one
    row = index.get(record, sig)
    if row is None:
        row = summarize(record, followers)
        index.put(record, sig, row)
    return row


class JobList:
    """Every job's row for a view that refreshes (the TUI's Jobs screen): live jobs are followed
    at each refresh; finished jobs' rows come from the index (summary_index) and, between two
    full looks, from memory. A full look (the registry read, every kept row's files checked)
    happens when the jobs dir changed (a launch, a resume or a removal rewrites it) and at
    least every FULL_LOOK_S, so a run dir changed by hand shows within a minute.

    The first refresh shows the kept rows as they were kept, without checking their files
    (a stat or two per job: most of a thousand jobs' first look), and says so (``provisional``):
    the view asks again at once, and that refresh is a full look."""

    FULL_LOOK_S = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        from launcher.jobs.summary_index import JobIndex

        self.followers = Followers()
        self.index = JobIndex()
        self._clock = clock
        self._jobs: list[tuple[JobRecord, dict[str, Any]]] = []
        self._registry_stamp: list[int] | None = None
        self._looked_at: float | None = None
        self._lock = threading.Lock()  # refreshes run in threads that a newer one does not stop
        self.full_looks = 0
        self.provisional = False  # the last refresh trusted kept rows unchecked (the first one)

    def refresh(self, warn: Callable[[str], None]) -> list[tuple[JobRecord, dict[str, Any]]]:
        """(record, row) for every job, oldest first."""
        from launcher import paths
        from launcher.jobs.summary_index import stat_of

        with self._lock:
            stamp = stat_of(str(paths.jobs_dir()))  # before the read: a change while reading is a change
            now = self._clock()
            if self._looked_at is None and not self.provisional:
                records = self.index.load_records(warn)
                self._jobs = [(r, self.index.unchecked(r.id) or self._row(r)) for r in records]
                self.provisional = True
            elif stamp is None or stamp != self._registry_stamp or self._looked_at is None \
                    or now - self._looked_at >= self.FULL_LOOK_S:
                records = self.index.load_records(warn)
                self.followers.keep_only(records)
                self.index.keep_only(records)
                self._jobs = [(r, self._row(r)) for r in records]
                self._registry_stamp, self._looked_at = stamp, now
                self.full_looks += 1
                self.provisional = False
            else:
                self._jobs = [(r, row if self.index.kept(r.id) else self._row(r)) for r, row in self._jobs]
            self.index.save()
            return list(self._jobs)

    def _row(self, record: JobRecord) -> dict[str, Any]:
        try:
            return summarize_kept(record, self.index, self.followers)
        except Exception as exc:  # one unreadable run dir must not hide the others
            return {"id": record.id, "name": record.name, "preset": record.preset,
                    "status": job_status.status(record), "devices": "?", "progress": None,
                    "best_map": None, "best_epoch": None, "reference_ap": record.reference_ap,
                    "started_at": record.started_at, "error": f"{type(exc).__name__}: {exc}"}


def summarize_all(records: list[JobRecord] | None = None) -> list[dict[str, Any]]:
    """Every job's row (or RECORDS'), finished ones from the kept index."""
    from launcher.jobs.summary_index import JobIndex

    index = JobIndex()
    if records is None:
        records = index.load_records()
        index.keep_only(records)
    rows = [summarize_kept(r, index) for r in records]
    index.save()
    return rows


def print_logs(record: JobRecord, *, follow: bool, stream: str = "stdout", as_json: bool = False) -> int:
    """The job's launcher output as written; with ``as_json``, one JSON object a line
    (``{"job", "stream", "line"}``), the same with or without ``follow``, so a script
    reads both alike."""
    from launcher.monitor.follow import FollowedFile

    path = record.run_path / f"{stream}.log"
    if not path.exists():
        print(f"frcnn-tui: error: {path} does not exist", file=sys.stderr)
        return 1
    log = FollowedFile(path, keep_overlong=True)
    write = _json_lines_writer(record.id, stream) if as_json else _write_raw
    while True:
        # Status before the read: the lines a job writes as it ends are still read.
        ended = not follow or job_status.status(record) not in status_words.ACTIVE  # a pending job will write
        if not log.stat():  # rewritten from the start
            log.restart()
            log.stat()
        for data, _first in log.read_lines():
            write(data)
        if ended:
            rest = log.take_partial()  # a last line without its newline
            if rest:
                write(rest)
            return 0
        time.sleep(0.5)


def _write_raw(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _json_lines_writer(job_id: str, stream: str) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        for line in lines:
            print(json.dumps({"job": job_id, "stream": stream, "line": line.removesuffix("\r")}))
        sys.stdout.flush()
    return write
