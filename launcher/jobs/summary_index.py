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
import time
from pathlib import Path
from typing import Any

import orjson

from launcher import paths
from launcher.gc_pause import gc_paused
from launcher.jobs import registry, status_words
from launcher.jobs.registry import JobRecord
from launcher.monitor.workdir import TIMESTAMP_DIR
from launcher import run_files

INDEX_FILE = "job-index.json"
# Bumped when a row's fields or the signature change: an older index is then ignored whole.
VERSION = 5
# What the summary reads in a run dir besides the timestamp folders' logs (registry, the tailer's two
# side logs with their attempt marks, rank_failure, lr_resume).
# events.jsonl and sentinel.json: the sentinel writes them after the job ended (the last event, a
# notification given up).
_RUN_FILE_NAMES = frozenset({run_files.EXIT_STATUS, run_files.STOP_REQUESTED, *run_files.LOGS, run_files.PLAN,
                             run_files.EVENTS, run_files.SENTINEL})
# How old a run dir's mtime must be for its signature to be checked without listing it again
# (file systems stamp in clock ticks of up to a few ms; NFS servers' clocks drift: seconds).
SETTLED_NS = 2_000_000_000
# Final by the job's own word: nothing but a new registry entry (resume) makes it run again.
FINAL = frozenset({status_words.SUCCEEDED, status_words.FAILED, status_words.STOPPED})


def stat_of(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def signature(record: JobRecord, jobs_dir: Path | None = None, entry_stamp: list[int] | None = None,
              kept: list | None = None) -> list | None:
    """The sizes and mtimes of everything a finished job's row is read from, or None when the
    run dir cannot be listed (then nothing is kept): [the registry entry's stamp, the run dir's,
    [[each file read, relative to the run dir, its stamp], ...], settled]. JOBS_DIR: the
    registry's folder, when the caller has it (paths.jobs_dir() checks the folder's mode each
    time). ENTRY_STAMP: the entry's stamp as registry.load_all just took it (else its file is
    stat'ed here).

    One listing of the run dir says which of its files exist: only those are stat'ed (a
    thousand jobs' rows are checked at each `jobs`, and a stat that fails costs an exception).
    KEPT, the signature a row was kept with: while the run dir's own stamp is the same, nothing
    was created, removed or renamed in it, so its listing is not read again and only the kept
    files are stat'ed (the listing was a third of the check). That holds only for a signature
    taken when the run dir's mtime was already SETTLED_NS old: a change within the same clock
    tick as the signature would leave the mtime as it was."""
    if entry_stamp is None:
        try:
            entry_stamp = registry.entry_stamp(str((jobs_dir or paths.jobs_dir()) / f"{record.id}.json"))
        except OSError:
            entry_stamp = None
    run_dir = record.run_dir
    taken_ns = time.time_ns()
    dir_stamp = stat_of(run_dir)
    if kept is not None and len(kept) == 4 and kept[3] is True and kept[0] == entry_stamp and kept[1] == dir_stamp \
            and dir_stamp is not None and all(isinstance(f, list) and len(f) == 2 and isinstance(f[0], str)
                                              and stat_of(os.path.join(run_dir, f[0])) == f[1] for f in kept[2]):
        return kept
    files, stamps = [], []
    try:
        with os.scandir(run_dir) as entries:
            for e in entries:
                if e.name in _RUN_FILE_NAMES:
                    files.append(e.name)
                elif TIMESTAMP_DIR.match(e.name) and e.is_dir():
                    stamps.append(e.name)
    except OSError:
        return None
    read = sorted(files)
    for ts in sorted(stamps):
        read += [os.path.join(ts, f"{ts}.log"), os.path.join(ts, "vis_data", "scalars.json")]
    settled = dir_stamp is not None and dir_stamp[0] <= taken_ns - SETTLED_NS
    return [entry_stamp, dir_stamp, [[name, stat_of(os.path.join(run_dir, name))] for name in read], settled]


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
        self._stamped: set[str] = set()  # entries whose stamp in _entries load_records just took
        self._dirty = False
        self.hits = self.misses = 0  # what a test (and the bench) checks
        # The TUI's refreshes run in threads that a newer refresh does not stop.
        self._lock = threading.RLock()
        try:
            # orjson: ten thousand kept rows are ~14 MB, 0.1 s against json's 0.4 s. It refuses NaN,
            # which the index never holds (a refused index is computed again, like a broken one).
            with gc_paused():
                data = orjson.loads(self.path.read_bytes())
            if isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("jobs"), dict):
                self._rows = data["jobs"]
                self._entries = data["entries"] if isinstance(data.get("entries"), dict) else {}
        except (OSError, ValueError, RecursionError, orjson.JSONDecodeError):
            pass  # no index yet, or a broken one: rows are computed again

    def load_records(self, warn: Any = None) -> list[JobRecord]:
        """registry.load_all, an unchanged entry's record from its kept fields."""
        with self._lock:
            before = dict(self._entries)
            with gc_paused():  # a JobRecord and a stamp per job: long-lived, no cycles
                records = registry.load_all(warn, kept=self._entries)
            self._stamped = {r.id for r in records}
            if len(before) != len(self._entries) or any(before.get(k) is not v for k, v in self._entries.items()):
                self._dirty = True
            return records

    def signature(self, record: JobRecord) -> list | None:
        """``signature`` of RECORD, with its entry's stamp as load_records took it (one stat less a
        job), and its kept row's signature to check first."""
        with self._lock:
            entry = self._entries.get(record.id) if record.id in self._stamped else None
            row = self._rows.get(record.id)
            kept = row.get("sig") if isinstance(row, dict) else None
        return signature(record, self.jobs_dir, entry[0] if entry else None, kept)

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
            try:
                text = orjson.dumps({"version": VERSION, "jobs": self._rows, "entries": self._entries},
                                    default=str, option=orjson.OPT_NON_STR_KEYS).decode()
            except TypeError:  # what orjson cannot write (an int over 64 bits): json can
                text = json.dumps({"version": VERSION, "jobs": self._rows, "entries": self._entries}, default=str)
            self._dirty = False
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            registry.write_atomic(self.path, text)
