"""Incremental tailer for an MMEngine work dir: scalars.json, text logs, stdout/stderr.

Layout followed (MMEngine 0.10.7; stdout/stderr.log are the launcher's captures)::

    work_dir/<config>.py, epoch_N.pth, best_*.pth, stdout.log, stderr.log
    work_dir/<YYYYMMDD_HHMMSS>/<YYYYMMDD_HHMMSS>.log
    work_dir/<YYYYMMDD_HHMMSS>/vis_data/scalars.json

Every start or resume adds a timestamp folder; the scalars files of all folders form
one stream, in folder-name order. A place in that stream is ``(file index, line
number)``; consumers order records by it.

A huge backlog is parsed at most ``max_bytes`` a poll, in order, and skimmed for the
first view (``backlog_skim``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from launcher.monitor.backlog_skim import BacklogSkim
from launcher.monitor.checkpoints import is_checkpoint
from launcher.monitor.follow import FollowedFile
from launcher.monitor.mmdet2_log import Mmdet2JsonLog, Mmdet2TextLog, is_mmdet2_json_log_name, is_mmdet2_log_name
from launcher.monitor.scalars import ScalarBatch, ScalarFile
from launcher.monitor.text_events import LogEvent, TextLog, TrainProgress
from launcher import run_files

__all__ = ["DEFAULT_POLL_BYTES", "TailUpdate", "WorkDirTailer"]

# A live job writes ~300 bytes per logged line; more than this per poll is history,
# which is skimmed for the first view and then read in pieces of this size.
DEFAULT_POLL_BYTES = 1 << 20

TIMESTAMP_DIR = re.compile(r"^\d{8}_\d{6}$")
_MAX_EPOCHS = re.compile(rb"\bmax_epochs\s*=\s*(\d+)")
TEXT_SIDE_FILES = run_files.LOGS


@dataclass
class TailUpdate:
    batches: list[ScalarBatch] = field(default_factory=list)
    peeks: list[ScalarBatch] = field(default_factory=list)
    events: list[LogEvent] = field(default_factory=list)
    progress: TrainProgress | None = None
    bad_lines: int = 0
    backlog_bytes: int = 0
    reset: bool = False
    truncated: list[str] = field(default_factory=list)
    checkpoints: list[str] | None = None
    max_epochs: int | None = None
    newest_mtime: float | None = None
    work_dir_missing: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.batches or self.peeks or self.events or self.progress or self.bad_lines
            or self.reset or self.checkpoints is not None or self.max_epochs is not None
        )


class WorkDirTailer:
    """Follows one work dir; call ``poll()`` at any rate, it never blocks on the job."""

    def __init__(self, work_dir: str | os.PathLike) -> None:
        self.work_dir = Path(work_dir)
        self._reset_state()

    def _reset_state(self) -> None:
        self._scalars: dict[str, ScalarFile] = {}
        self._texts: dict[str, TextLog] = {}
        # An MMDetection 2.x work dir: <timestamp>.log at the top, no timestamp folders.
        self._mmdet2: dict[str, Mmdet2TextLog] = {}
        # The JSON logs only when the dir has no 2.x text log (they repeat its numbers), and the
        # text logs only while no JSON log is followed: never both, so nothing counts twice.
        self._mmdet2_json: dict[str, Mmdet2JsonLog] = {}
        self._mmdet2_epoch_len: dict[int, int] = {}
        self._checkpoints: list[str] = []
        self._config_mtime: dict[str, float] = {}
        self._max_epochs: int | None = None
        self._skim = BacklogSkim()

    @property
    def max_epochs(self) -> int | None:
        """From the config MMEngine dumps into the work dir, when it has one."""
        return self._max_epochs

    def poll(self, max_bytes: int | None = DEFAULT_POLL_BYTES, *, skim: bool = True) -> TailUpdate:
        """Reads what is new. At most ``max_bytes`` of scalars are parsed in order;
        ``TailUpdate.backlog_bytes`` says how much is left. None parses everything
        into one update, whose size then grows with the backlog: to read a long
        history, loop with a budget instead (``run_follower.catch_up``).
        ``skim=False`` skips the peeks, for callers that read everything anyway."""
        upd = TailUpdate()
        if not self._scan_dir(upd):
            upd.work_dir_missing = True
            return upd
        truncated = [t.name for t in self._tracked() if not t.stat()]
        if truncated:
            # Starting every file over is the only way the consumer's series stay
            # consistent with the files; truncation is rare (a log was rewritten).
            self._reset_state()
            self._scan_dir(upd)
            upd.reset = True
            upd.truncated = truncated
            upd.checkpoints = list(self._checkpoints)
            for t in self._tracked():
                t.stat()
        budget = float("inf") if max_bytes is None else max(0, max_bytes)
        scalars = sorted(self._scalars.values(), key=lambda f: f.index)
        if skim and sum(f.backlog for f in scalars) > budget:
            for f in scalars:
                self._skim.skim(f, upd.peeks)
        for f in scalars:
            before = f.offset
            for data, first in f.read_lines(budget):
                batches, bad = f.parse(data, first)
                upd.batches.extend(batches)
                upd.bad_lines += bad
            budget -= f.offset - before
            if f.offset < f.size:
                break  # later folders wait, so every series stays in stream order
        for t in self._texts.values():
            for data, _first in t.read_lines():
                progress = t.scan(data, upd.events)
                if progress is not None:
                    upd.progress = progress
                self._max_epochs_from_text(data, upd)
        for t in self._mmdet2.values():
            for data, first in t.read_lines():
                batches, progress = t.records(data, first)
                upd.batches.extend(batches)
                upd.progress = progress or upd.progress
                t.scan(data, upd.events)
                self._max_epochs_from_text(data, upd)
        for j in self._mmdet2_json.values():
            for data, first in j.read_lines():
                upd.batches.extend(j.records(data, first))
                self._max_epochs_from_text(data, upd)  # its first line holds the config
        mtimes = []
        for t in self._tracked():
            upd.bad_lines += t.bad
            t.bad = 0
            if t.mtime is not None:
                mtimes.append(t.mtime)
        upd.backlog_bytes = sum(f.backlog for f in scalars)
        upd.newest_mtime = max(mtimes, default=None)
        return upd

    def _tracked(self) -> list[FollowedFile]:
        return [*self._scalars.values(), *self._texts.values(), *self._mmdet2.values(), *self._mmdet2_json.values()]

    def followed_files(self) -> list[FollowedFile]:
        """Every file followed so far, with how far each was read."""
        return self._tracked()

    @property
    def bytes_read(self) -> int:
        return sum(f.offset for f in self._tracked())

    def _scan_dir(self, upd: TailUpdate) -> bool:
        try:
            entries = list(os.scandir(self.work_dir))
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:
            return True  # transient (NFS): keep what is known
        stamps, checkpoints, configs, mmdet2, mmdet2_json = [], [], [], [], []
        for e in entries:
            name = e.name
            if TIMESTAMP_DIR.match(name):
                stamps.append(name)
            elif is_checkpoint(name):
                checkpoints.append(str(self.work_dir / name))
            elif name.endswith(".py"):
                configs.append(e)
            elif name in TEXT_SIDE_FILES and name not in self._texts:
                self._texts[name] = TextLog(Path(e.path), name, len(self._texts))
            elif is_mmdet2_log_name(name, TEXT_SIDE_FILES):
                mmdet2.append(name)
            elif is_mmdet2_json_log_name(name):
                mmdet2_json.append(name)
        for ts in sorted(stamps):
            if ts not in self._scalars:
                rel = f"{ts}/vis_data/scalars.json"
                self._scalars[ts] = ScalarFile(self.work_dir / rel, rel, len(self._scalars))
                log_rel = f"{ts}/{ts}.log"
                self._texts[log_rel] = TextLog(self.work_dir / log_rel, log_rel, len(self._texts))
        if not stamps and not self._mmdet2_json:
            for name in sorted(mmdet2):  # a resumed 2.x run adds a newer <timestamp>.log
                if name not in self._mmdet2:
                    self._mmdet2[name] = Mmdet2TextLog(self.work_dir / name, name, len(self._mmdet2))
        if not stamps and not self._mmdet2:
            for name in sorted(mmdet2_json):
                if name not in self._mmdet2_json:
                    # One table of epoch lengths for all of them: a resumed run's log goes on counting.
                    self._mmdet2_json[name] = Mmdet2JsonLog(self.work_dir / name, name, len(self._mmdet2_json),
                                                            self._mmdet2_epoch_len)
        checkpoints.sort()
        if checkpoints != self._checkpoints:
            self._checkpoints = checkpoints
            upd.checkpoints = list(checkpoints)
        for e in configs:
            self._read_config(e, upd)
        return True

    def _read_config(self, entry: os.DirEntry, upd: TailUpdate) -> None:
        try:
            mtime = entry.stat().st_mtime
            if self._config_mtime.get(entry.name) == mtime:
                return
            self._config_mtime[entry.name] = mtime
            with open(entry.path, "rb") as fh:
                text = fh.read(1 << 20)
        except OSError:
            return
        m = _MAX_EPOCHS.search(text)
        if m and int(m.group(1)) != self._max_epochs:
            self._max_epochs = int(m.group(1))
            upd.max_epochs = self._max_epochs

    def _max_epochs_from_text(self, data: bytes, upd: TailUpdate) -> None:
        # MMEngine prints the whole config at the top of the text log, so a work dir
        # without the dumped .py still tells the schedule length.
        if self._max_epochs is None:
            m = _MAX_EPOCHS.search(data)
            if m:
                self._max_epochs = upd.max_epochs = int(m.group(1))
