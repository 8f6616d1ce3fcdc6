"""Which jobs have events the user has not seen: the Jobs screen's unread mark.

Seen means the job's Monitor was open (it shows the job's last event): opening it, and coming
back from it, remember the time of the job's newest event. A job whose newest event is later
than that (or that has events and was never opened) has unread events. What was seen is kept
in one small file under the state dir (``tui-seen-events.json``: job id -> that time), so the
marks survive a restart of the TUI; events carry their own time, so nothing but the rows the
Jobs screen already has is read to decide.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from launcher import paths
from launcher.sentinel import events
from launcher.sentinel.report import ROW_EVENTS

__all__ = ["SeenEvents", "newest_time"]

FILE = "tui-seen-events.json"


def newest_time(evs: list[dict[str, Any]]) -> float | None:
    """The time of the newest of EVS (a row's events, oldest first); None without any."""
    t = evs[-1].get("time") if evs else None
    return float(t) if isinstance(t, (int, float)) else None


class SeenEvents:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.state_dir() / FILE
        self._seen: dict[str, float] = {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}  # none yet, or damaged: every job with events reads unread, nothing is lost
        if isinstance(data, dict):
            self._seen = {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}

    def unread(self, job_id: str, row: dict[str, Any]) -> str:
        """'' when the user has seen every event of the job's row, else e.g. '2 new' (the row
        holds the newest ROW_EVENTS events: '5+ new' when all of those are unread)."""
        evs = row.get("events") or []
        seen = self._seen.get(job_id, float("-inf"))
        new = sum(1 for e in evs if isinstance(e.get("time"), (int, float)) and e["time"] > seen)
        if not new:
            return ""
        return f"{new}+ new" if new == len(evs) == ROW_EVENTS else f"{new} new"

    def mark_seen(self, record: Any, keep: Iterable[str] | None = None) -> None:
        """RECORD's events, as its run dir has them now, are seen. KEEP (the ids of the jobs
        listed), when given, drops the entries of removed jobs."""
        newest = newest_time(events.read(record.run_path, limit=1))
        if newest is None or self._seen.get(record.id) == newest:
            return
        self._seen[record.id] = newest
        if keep is not None:
            keep = set(keep) | {record.id}
            self._seen = {k: v for k, v in self._seen.items() if k in keep}
        try:
            paths.write_atomic(self.path, json.dumps(self._seen))
        except OSError:
            pass  # a full disk: the mark comes back after a restart, the run is untouched
