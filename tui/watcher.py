"""One watcher thread per monitored job (the toolong pattern): it polls the job's work dir
through the run follower (launcher.monitor.run_follower) and posts messages; widgets only render them.

Started when the monitor mounts, stopped when it unmounts. It only reads files, so
closing the monitor (or the TUI) never touches the job.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from textual.message_pump import MessagePump

from launcher.jobs import backends, job_status, registry
from launcher.errors import UserError
from launcher.monitor.follow import FollowedFile
from launcher.monitor.run_follower import RunFollower
from launcher.sentinel import events as sentinel_events
from launcher.sentinel import report as sentinel_report
from launcher import run_files
from tui.messages import LogLines, MetricsUpdated

LOG_STREAMS = run_files.LOGS
LOG_BACKLOG = 64 << 10  # on open, show the last 64 KiB of each stream, not the whole history
LOG_READ_MAX = 256 << 10  # per poll, so a flood never stalls the UI


class _LogPaneSource:
    """New complete lines of one log file for the log pane (display only: parsing is the
    monitor's job). Opens at the file's last LOG_BACKLOG bytes, and again there when the
    file is rewritten."""

    def __init__(self, path: Path) -> None:
        self.file = FollowedFile(path, keep_overlong=True)
        self.opened = False

    def read(self) -> list[str]:
        f = self.file
        if not f.stat():
            f.restart()
            f.stat()
            self.opened = False
        if not self.opened:
            if not f.seen:
                return []
            f.start_near_end(LOG_BACKLOG)
            self.opened = True
        lines: list[str] = []
        for data, _first in f.read_lines(LOG_READ_MAX):
            lines.extend(data.decode("utf-8", "replace").split("\n"))
            if data.endswith(b"\n"):
                lines.pop()
        return [line.rstrip("\r").split("\r")[-1] for line in lines]  # keep a progress bar's last state


class JobWatcher(threading.Thread):
    def __init__(self, record: Any, target: MessagePump, *, interval: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name=f"watch-{record.id}", daemon=True)
        self.record, self.target, self.interval, self.clock = record, target, interval, clock
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def _status(self) -> str:
        try:
            # Re-read the record: a resume gives the job a new pid.
            self.record = registry.load(self.record.id)
        except (UserError, OSError, ValueError):
            pass
        return job_status.status(self.record)

    def run(self) -> None:
        record = self.record
        # Against the job's reference run, else its preset's target (an unreadable reference store
        # leaves the target: it must not stop the monitor).
        follower = RunFollower.for_job(record, series=True, compare=True)
        # Reopening a long run's monitor starts from what the last reader kept.
        follower.restore()
        followers = [(name.split(".")[0], _LogPaneSource(record.run_path / name)) for name in LOG_STREAMS]
        last_status = None
        first = True
        events_size = 0
        backend_details: dict | None = None
        while not self._stop_event.is_set():
            changed = follower.poll()
            status = self._status()
            changed |= follower.stall_changed(status, self.clock())
            # The sentinel's news (an event, and with a stalled one its stack dump) is a change too.
            was_events, events_size = events_size, sentinel_events.size(record.run_path)
            if backends.backend_for(self.record).details_follow_status and (status != last_status or first):
                # SLURM's state and restart count change with our status (a requeue passes by pending).
                backend_details = backends.details(self.record)
            if changed or status != last_status or first or events_size != was_events:
                snap = follower.snapshot(status, now=self.clock())
                if backend_details:
                    snap["slurm"] = backend_details
                snap.update(sentinel_report.fields(record.run_path, status))  # its events, a sentinel gone
                self.target.post_message(MetricsUpdated(snap))
            lines = [(stream, line) for stream, f in followers for line in f.read()]
            if lines:
                self.target.post_message(LogLines(lines))
            first, last_status = False, status
            if not follower.backlog_bytes:
                follower.keep_if_caught_up()  # caught up on a long history: kept for the next reader
                self._stop_event.wait(self.interval)


def read_snapshot(record: Any) -> dict:
    """Everything on disk for one job, read to the end once (for comparisons, not live views)."""
    return RunFollower.for_job(record, poll_bytes=None).read_once()
