"""Finished jobs' rows, computed once and kept: a list of a thousand old runs reads a few
stats per job, not every job's logs and processes at every refresh.

A finished job's row (status, best mAP, progress, alerts, the rank that failed) can only
change when something it was read from changes: its registry entry (a resume rewrites it),
its run dir (a resume removes the exit file and adds a timestamp folder; a new run in the
same --work-dir adds one too), or one of the files the summary reads. The row is kept with
the sizes and mtimes of those (``signature``) and used while they all match; any change and
the row is computed again. Live jobs are never kept: they are followed (summary.Followers).

It also keeps every registry entry's parsed fields beside the stamp of its file
(``load_records``): an entry unchanged since is not opened again.

One JSON file under the cache dir (``job-index.json``), written whole (temp file and
rename) only when a row was added or dropped. Two writers at once lose at most the other's
new rows, which the next list computes again: a cache, never the truth.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from launcher import paths
from launcher.jobs import registry, status_words
from launcher.jobs.registry import JobRecord
from launcher.monitor.workdir import TIMESTAMP_DIR
from launcher import run_files

INDEX_FILE = "job-index.json"
# Bumped when a row's fields or the signature change: an older index is then ignored whole.
VERSION = 4
# What the summary reads in a run dir besides the timestamp folders' logs (registry, the tailer's two
# side logs with their attempt marks, rank_failure, lr_resume).
# events.jsonl and sentinel.json: the sentinel writes them after the job ended (the last event, a
# notification given up).
_RUN_FILES = (run_files.EXIT_STATUS, run_files.STOP_REQUESTED, *run_files.LOGS, run_files.PLAN, run_files.EVENTS,
              run_files.SENTINEL)
# Final by the job's own word: nothing but a new registry entry (resume) makes it run again.
FINAL = frozenset({status_words.SUCCEEDED, status_words.FAILED, status_words.STOPPED})


def stat_of(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def signature(record: JobRecord, jobs_dir: Path | None = None) -> list | None:
    """The sizes and mtimes of everything a finished job's row is read from, or None when the
    run dir cannot be listed (then nothing is kept). JOBS_DIR: the registry's folder, when the
    caller has it (paths.jobs_dir() checks the folder's mode each time)."""
    run_dir = record.run_dir
    try:
        with os.scandir(run_dir) as entries:
            stamps = sorted(e.name for e in entries if e.is_dir() and TIMESTAMP_DIR.match(e.name))
    except OSError:
        return None
    parts: list = [stat_of(str((jobs_dir or paths.jobs_dir()) / f"{record.id}.json")), stat_of(run_dir)]
    parts += [stat_of(os.path.join(run_dir, name)) for name in _RUN_FILES]
    for ts in stamps:
        parts += [ts, stat_of(os.path.join(run_dir, ts, f"{ts}.log")),
                  stat_of(os.path.join(run_dir, ts, "vis_data", "scalars.json"))]
    return parts


def keepable(record: JobRecord, row: dict[str, Any]) -> bool:
    """Is this row final? A SLURM job only with its exit file written: SLURM may requeue it."""
    if row.get("status") not in FINAL or row.get("error"):
        return False
    return record.backend != registry.SLURM or row.get("exit_code") is not None


class JobIndex:
    """The kept rows, loaded once; ``save`` writes them back when they changed."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.cache_dir() / INDEX_FILE
        self.jobs_dir = paths.jobs_dir()
        self._rows: dict[str, dict[str, Any]] = {}
        self._entries: dict[str, list] = {}  # registry.load_all's KEPT
        self._dirty = False
        self.hits = self.misses = 0  # what a test (and the bench) checks
        # The TUI's refreshes run in threads that a newer refresh does not stop.
        self._lock = threading.RLock()
        try:
            data = json.loads(self.path.read_text())
            if isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("jobs"), dict):
                self._rows = data["jobs"]
                self._entries = data["entries"] if isinstance(data.get("entries"), dict) else {}
        except (OSError, ValueError, RecursionError):
            pass  # no index yet, or a broken one: rows are computed again

    def load_records(self, warn: Any = None) -> list[JobRecord]:
        """registry.load_all, an unchanged entry's record from its kept fields."""
        with self._lock:
            before = dict(self._entries)
            records = registry.load_all(warn, kept=self._entries)
            if len(before) != len(self._entries) or any(before.get(k) is not v for k, v in self._entries.items()):
                self._dirty = True
            return records

    def get(self, record: JobRecord, sig: list | None) -> dict[str, Any] | None:
        with self._lock:
            entry = self._rows.get(record.id)
            if sig is not None and isinstance(entry, dict) and entry.get("sig") == sig \
                    and isinstance(entry.get("row"), dict):
                self.hits += 1
                return dict(entry["row"])
            self.misses += 1
            return None

    def unchecked(self, job_id: str) -> dict[str, Any] | None:
        """The kept row as it was kept, its files not looked at (JobList's first, provisional look)."""
        with self._lock:
            entry = self._rows.get(job_id)
            return dict(entry["row"]) if isinstance(entry, dict) and isinstance(entry.get("row"), dict) else None

    def put(self, record: JobRecord, sig: list | None, row: dict[str, Any]) -> None:
        with self._lock:
            if sig is not None and keepable(record, row):
                self._rows[record.id] = {"sig": sig, "row": row}
                self._dirty = True
            elif self._rows.pop(record.id, None) is not None:
                self._dirty = True

    def kept(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._rows

    def keep_only(self, records: list[JobRecord]) -> None:
        """Forgets removed jobs."""
        ids = {r.id for r in records}
        with self._lock:
            gone = [job_id for job_id in self._rows if job_id not in ids]
            for job_id in gone:
                del self._rows[job_id]
            self._dirty = self._dirty or bool(gone)

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            text = json.dumps({"version": VERSION, "jobs": self._rows, "entries": self._entries}, default=str)
            self._dirty = False
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            registry.write_atomic(self.path, text)
