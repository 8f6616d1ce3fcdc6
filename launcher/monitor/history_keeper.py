"""The job keeps its own parsed history, so that its first reader does not parse it all.

``history_cache`` lets the second reader of a long history (``watch --once``, the
Monitor) skip what the first one parsed; the first reader still parses every line,
which on a 1,000,000-line scalars.json costs ~0.7x a json.loads loop even with orjson.
For a frcnn-tui job nobody needs to be first: rank 0 of the training process runs a
``HistoryKeeper`` thread that reads the run dir as it grows, a few seconds' worth of
lines at a time, through the same run follower as every reader, and keeps the
result with ``history_cache.save`` once the history is long enough to be slow to read.
A reader then restores that state and parses only what was written after the last
keep (at most ``period`` seconds of logging; nothing after the final keep at the end of
training).

Why in the training process: it is the one process that is there for the whole run,
and the cost is spread over the run (parsing each line once, ~10 us, at one line per
``LoggerHook`` interval), instead of landing on a user waiting for ``watch``. The
state goes where every reader's does, the user's private cache folder, never beside
the log (history_cache says why).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from launcher.monitor import history_cache
from launcher.monitor.run_follower import RunFollower

__all__ = ["HistoryKeeper"]

# Test hook: keep histories shorter than history_cache.SAVE_MIN_BYTES too.
MIN_BYTES_ENV = "FRCNN_TUI_KEEP_HISTORY_MIN_BYTES"


class HistoryKeeper(threading.Thread):
    """Follows ``run_dir`` every ``period`` seconds and keeps its parsed history.

    ``stop()`` reads what is left and keeps it a last time. A daemon thread: a
    training process that dies takes it along, and the last keep stays valid for
    everything before it (the reader parses the rest)."""

    def __init__(self, run_dir: str | os.PathLike, *, period: float = 30.0, min_bytes: int | None = None) -> None:
        super().__init__(name="frcnn-tui-history-keeper", daemon=True)
        self.run_dir = Path(run_dir)
        self.period = period
        if min_bytes is None:
            env = os.environ.get(MIN_BYTES_ENV, "")
            min_bytes = int(env) if env.isdigit() else history_cache.SAVE_MIN_BYTES
        self.min_bytes = min_bytes
        self.keeps = 0
        self.cpu_s = 0.0  # this thread's CPU time: what keeping costs the job
        self._stop_event = threading.Event()
        # max_epochs and reference_ap are the caller's (history_cache leaves them out).
        self._follower = RunFollower(self.run_dir)
        self._kept_at = -1

    def step(self) -> bool:
        """Reads what was written since the last step; keeps it when there is enough
        history and something new. Returns whether it kept."""
        started = time.thread_time()
        try:
            return self._step()
        finally:
            self.cpu_s += time.thread_time() - started

    def _step(self) -> bool:
        self._follower.catch_up(keep=False)
        read = self._follower.bytes_read
        if read < self.min_bytes or read == self._kept_at:
            return False
        if self._follower.keep():
            self._kept_at = read
            self.keeps += 1
            return True
        return False

    def run(self) -> None:
        while not self._stop_event.wait(self.period):
            self._step_quietly()

    def stop(self, timeout: float = 60.0) -> None:
        """Stops the thread and keeps what the run wrote up to now."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)
        if not self.is_alive():  # never two steps at once on one tailer
            self._step_quietly()

    def _step_quietly(self) -> None:
        # Keeping the history is an optimisation for readers: it must never fail the training.
        try:
            self.step()
        except Exception:
            pass
