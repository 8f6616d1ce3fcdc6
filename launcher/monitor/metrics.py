"""Live metrics of one training job, built from ``WorkDirTailer`` updates.

``JobMetrics.update(tail_update)`` folds new records in; ``snapshot()`` returns a
plain, JSON-safe dict. Readers do not build one themselves: the run follower
(run_follower.RunFollower) sets it up from the run's plan and feeds it.

Memory stays bounded however long the run: each series keeps at most
``max_buckets`` min/max buckets (see ``DownsampledSeries``), and everything else
is per epoch or capped.
"""

from __future__ import annotations

import time

from launcher.monitor import STALL_GRACE_S, attempt_marks
from launcher.monitor import per_class
from launcher.monitor.alerts import DivergenceRule, InputBoundRule, NonFiniteLossRule, StallRule
from launcher.monitor.checkpoints import checkpoint_for_epoch
from launcher.monitor.scalars import ScalarBatch
from launcher.monitor.series import DownsampledSeries
from launcher.monitor.text_events import TrainProgress, parse_train_line
from launcher.monitor.values import finite, json_value
from launcher.monitor.workdir import TailUpdate

__all__ = ["DEFAULT_WARMUP_ITERS", "RUNNING_STATES", "JobMetrics"]

# Job states (from the launcher's registry) that mean the job is still alive.
RUNNING_STATES = frozenset({"running", "starting", "launching", "queued", "pending", "waiting"})

DEFAULT_WARMUP_ITERS = 500  # mmdet's Faster R-CNN configs
_POSITION_KEYS = ("epoch", "iter", "step")
_RECENT_TIMES = 8
_MAX_ALERTS = 50
_MAX_COCO_LINES = 24
# pycocotools prints this line first in every summary; it starts a new table.
_COCO_TABLE_START = "(AP) @[ IoU=0.50:0.95 | area=   all"
_NEVER = (-1, -1)


def _no_errors() -> dict:
    return {"first_error_line": None, "first_error_source": None, "last_error_line": None, "error_count": 0,
            "traceback": None, "last_traceback": None}


class JobMetrics:
    """Folds ``TailUpdate``s into series, progress, mAP, alerts and errors.

    Not thread-safe: poll, update and snapshot from one thread (in the TUI, one
    worker) and hand the snapshot dict to whoever renders it.
    """

    def __init__(self, *, max_epochs: int | None = None, reference_ap: float | None = None,
                 warmup_iters: int = DEFAULT_WARMUP_ITERS, max_buckets: int = 512,
                 stall_grace_s: float = STALL_GRACE_S) -> None:
        self.max_epochs = max_epochs
        self.stall_grace_s = stall_grace_s
        self.reference_ap = reference_ap
        self.warmup_iters = warmup_iters
        self.max_buckets = max_buckets
        self._resets: list[dict] = []
        self._clear()

    def _clear(self) -> None:
        self._series: dict[str, DownsampledSeries] = {}
        self._divergence = DivergenceRule(warmup_iters=self.warmup_iters)
        self._input_bound = InputBoundRule()
        self._latest: dict = {}
        self._latest_pos = _NEVER
        self._recent_times: dict[tuple[int, int], float] = {}
        self._map: dict[int, tuple[tuple[int, int], dict]] = {}
        self._nonfinite = NonFiniteLossRule()
        self._stall = StallRule(slack_s=self.stall_grace_s)
        self._alerts: list[dict] = []
        self._progress: TrainProgress | None = None
        self._checkpoints: list[str] = []
        self._config_max_epochs: int | None = None
        # Errors by log, so a resume mark in one stream drops that stream's older errors only
        # (attempt_marks); logs past a stop mark are left out until the resume.
        self._errors_by_source: dict[str, dict] = {}
        self._stopping: set[str] = set()
        self._attempt_stamp: str | None = None
        self._history: dict[str, dict] = {}
        self._lr_line: str | None = None
        self._coco_table: list[str] = []
        self._bad_lines = 0
        self._backlog_bytes = 0
        self._newest_mtime: float | None = None
        self._records = 0

    # -- ingest ---------------------------------------------------------------

    def update(self, upd: TailUpdate) -> bool:
        """Returns whether anything a view shows may have changed."""
        if upd.reset:
            self._clear()
            self._resets.append({"kind": "log_reset", "step": None,
                                 "message": "log truncated or replaced, re-read from the start: "
                                            + ", ".join(upd.truncated)})
            del self._resets[:-5]
        for b in upd.peeks:
            self._ingest(b, in_order=False)
        for b in upd.batches:
            self._ingest(b, in_order=True)
        for e in upd.events:
            self._event(e.kind, e.text, e.source)
        if upd.progress is not None:
            self._progress = upd.progress
        if upd.checkpoints is not None:
            self._checkpoints = list(upd.checkpoints)
        if upd.max_epochs is not None:
            self._config_max_epochs = upd.max_epochs
        self._bad_lines += upd.bad_lines
        backlog_changed = upd.backlog_bytes != self._backlog_bytes
        self._backlog_bytes = upd.backlog_bytes
        if upd.newest_mtime is not None:
            self._newest_mtime = upd.newest_mtime
        return upd.changed or backlog_changed

    def _ingest(self, b: ScalarBatch, *, in_order: bool) -> None:
        if b.n == 0:
            return
        if b.is_validation:
            self._validation(b)
            return
        columns = b.columns
        if b.n == 1:  # an irregular line may hold anything JSON allows
            columns = {k: v for k, v in columns.items()
                       if isinstance(v[0], (int, float)) and not isinstance(v[0], bool)}
        step_key = "step" if "step" in columns else "iter" if "iter" in columns else None
        if step_key is None:
            return
        steps = columns[step_key]
        if not all(type(s) is int for s in (steps[0], steps[-1])):
            steps = [int(s) if s - s == 0 else 0 for s in steps]
        self._records += b.n if in_order else 0
        last = b.last_pos
        if last >= self._latest_pos:
            self._latest_pos = last
            self._latest = {k: v[-1] for k, v in columns.items()}
        if "time" in columns:
            times = columns["time"]
            for i in range(max(0, b.n - _RECENT_TIMES), b.n):
                self._recent_times[b.pos(i)] = times[i]
            if len(self._recent_times) > 4 * _RECENT_TIMES:
                keep = sorted(self._recent_times)[-_RECENT_TIMES:]
                self._recent_times = {p: self._recent_times[p] for p in keep}
        self._nonfinite.feed(b, columns, steps)
        if not in_order:
            return  # a skim peek: the in-order parse will deliver it again
        for k, col in columns.items():
            if k not in _POSITION_KEYS:
                series = self._series.get(k)
                if series is None:
                    series = self._series[k] = DownsampledSeries(self.max_buckets)
                series.extend(steps, col)
        self._stall.feed(steps, columns.get("time"))
        if "loss" in columns:
            for alert in self._divergence.feed(steps, columns["loss"]):
                self._add_alert(alert)
        if "data_time" in columns and "time" in columns:
            for alert in self._input_bound.feed(steps, columns["data_time"], columns["time"]):
                self._add_alert(alert)

    def _validation(self, b: ScalarBatch) -> None:
        epochs = b.columns.get("step")
        if epochs is None:
            return
        names = [(k, k.split("/", 1)[1]) for k in b.keys if "/" in k]
        for i, epoch in enumerate(epochs):
            if type(epoch) is not int:
                continue
            metrics = {name: v for k, name in names
                       if isinstance(v := b.columns[k][i], (int, float)) and not isinstance(v, bool)}
            if not metrics:
                continue
            pos = b.pos(i)
            known = self._map.get(epoch)
            if known is None or pos >= known[0]:
                self._map[epoch] = (pos, metrics)

    def _event(self, kind: str, text: str, source: str) -> None:
        if kind == "attempt":
            self._attempt_mark(text, source)
            return
        if kind in ("error", "traceback"):
            if source in self._stopping:
                return  # the shutdown the user asked for (torchrun's SignalException), not an error
            errors = self._errors_by_source.get(source)
            if errors is None:
                errors = self._errors_by_source[source] = _no_errors()
        if kind == "error":
            errors["error_count"] += 1
            errors["last_error_line"] = text
            if errors["first_error_line"] is None:
                errors["first_error_line"], errors["first_error_source"] = text, source
        elif kind == "traceback":
            errors["last_traceback"] = text
            if errors["traceback"] is None:
                errors["traceback"] = text
        elif kind == "lr_scaling":
            if self._lr_line is None:
                self._lr_line = text
        elif kind == "coco_table":
            if _COCO_TABLE_START in text:
                self._coco_table = []
            if len(self._coco_table) < _MAX_COCO_LINES:
                self._coco_table.append(text)
        elif kind == "nonfinite":
            progress = parse_train_line(text)
            self._nonfinite.feed_text(text, source, self._global_iter_of(progress) if progress else None)

    def _attempt_mark(self, text: str, source: str) -> None:
        mark = attempt_marks.parse(text)
        if mark is None:
            return
        self._history[mark["stamp"] + mark["event"]] = mark  # each mark is in both streams: once
        if mark["event"] == "stopped":
            self._stopping.add(source)
        else:
            self._stopping.discard(source)
            self._errors_by_source.pop(source, None)
            self._attempt_stamp = max(self._attempt_stamp or "", mark["stamp"])

    def _history_in_order(self) -> list[dict]:
        # By time; marks of one second keep the order the log has them in (a stable sort).
        return sorted(self._history.values(), key=lambda h: h["stamp"])

    def errors(self) -> dict:
        """The current attempt's errors: first and last line, count, first and last traceback."""
        out = _no_errors()
        for source, e in self._errors_by_source.items():
            if attempt_marks.stale_source(source, self._attempt_stamp):
                continue
            if out["first_error_line"] is None and e["first_error_line"] is not None:
                out["first_error_line"], out["first_error_source"] = e["first_error_line"], e["first_error_source"]
            out["last_error_line"] = e["last_error_line"] or out["last_error_line"]
            out["error_count"] += e["error_count"]
            out["traceback"] = out["traceback"] or e["traceback"]
            out["last_traceback"] = e["last_traceback"] or out["last_traceback"]
        return out

    def _add_alert(self, alert: dict) -> None:
        if len(self._alerts) < _MAX_ALERTS:
            self._alerts.append(alert)

    # -- derived --------------------------------------------------------------

    @staticmethod
    def _global_iter_of(p: TrainProgress) -> int | None:
        if not p.by_epoch:
            return p.iter
        if p.epoch is None:
            return None
        return (p.epoch - 1) * p.total + p.iter

    def _progress_dict(self) -> dict:
        lat, p = self._latest, self._progress
        epoch = lat.get("epoch")
        global_iter = lat.get("iter", lat.get("step"))
        per_epoch = p.total if p is not None and p.by_epoch else None
        max_epochs = self.max_epochs or self._config_max_epochs
        iter_in_epoch = None
        text_global = self._global_iter_of(p) if p is not None else None
        if text_global is not None and (global_iter is None or text_global > global_iter):
            global_iter, epoch = text_global, p.epoch if p.by_epoch else epoch
            iter_in_epoch = p.iter if p.by_epoch else None
        elif per_epoch and isinstance(epoch, int) and isinstance(global_iter, int):
            iter_in_epoch = min(per_epoch, max(0, global_iter - (epoch - 1) * per_epoch))
        if p is not None and not p.by_epoch:
            total = p.total
        else:
            total = max_epochs * per_epoch if max_epochs and per_epoch else None
        fraction = None
        if total and isinstance(global_iter, int):
            fraction = min(1.0, max(0.0, global_iter / total))
        if self._finished(max_epochs, global_iter, total):
            fraction = 1.0
        return {"epoch": epoch, "max_epochs": max_epochs, "iter_in_epoch": iter_in_epoch,
                "iters_per_epoch": per_epoch, "global_iter": global_iter,
                "total_iters": total, "fraction": fraction}

    def _finished(self, max_epochs, global_iter, total) -> bool:
        if max_epochs and max_epochs in self._map:
            return True
        return bool(total and isinstance(global_iter, int) and global_iter >= total)

    def _eta(self, progress: dict, finished: bool) -> tuple[int | None, str | None]:
        if finished:
            return 0, "finished"
        total, done = progress["total_iters"], progress["global_iter"]
        recent = sorted(self._recent_times)[-_RECENT_TIMES:]
        times = sorted(t for p in recent if finite(t := self._recent_times[p]) and t > 0)
        if total and isinstance(done, int) and times:
            return round(max(0, total - done) * times[len(times) // 2]), "iteration time"
        if self._progress is not None and self._progress.eta_s is not None:
            return self._progress.eta_s, "text log"
        return None, None

    def _primary_key(self) -> str | None:
        keys = {k for _, m in self._map.values() for k in m}
        if "bbox_mAP" in keys:
            return "bbox_mAP"
        return min((k for k in keys if k.endswith("mAP")), default=None)

    def _best(self) -> dict | None:
        key = self._primary_key()
        if key is None:
            return None
        scored = [(m[key], e) for e, (_, m) in self._map.items()
                  if finite(m.get(key)) and m[key] >= 0]
        if not scored:
            return None
        value, epoch = max(scored, key=lambda s: (s[0], -s[1]))
        percent = round(value * 100, 2)
        ref = self.reference_ap
        # The reference AP is a final one: the run is held against it only once it has been
        # evaluated at the end of its schedule, never at epoch 1 (reference_compare).
        last = self.max_epochs or self._config_max_epochs
        at_end = self._map.get(last, (None, {}))[1].get(key) if last else None
        return {"epoch": epoch, "metric": key, key: value, "value": value, "percent": percent,
                "checkpoint": checkpoint_for_epoch(self._checkpoints, epoch), "reference_ap": ref,
                "gap_to_reference": round(100 * at_end - ref, 2) if ref is not None and finite(at_end) else None}

    def _status(self, finished: bool) -> str:
        if finished:
            return "finished"
        if self.errors()["traceback"] is not None:
            return "failed"
        if not self._latest and self._progress is None:
            return "waiting"
        return "running"

    def stall_alert(self, job_status: str | None, now: float | None = None) -> dict | None:
        """A ``stalled`` alert while the job's processes live (JOB_STATUS running) and its logs
        have been silent for several usual intervals; None otherwise (see StallRule)."""
        if job_status is None or job_status.lower() != "running" or self._newest_mtime is None:
            return None
        now = time.time() if now is None else now
        return self._stall.judge(now - self._newest_mtime, processes_live=True)

    def snapshot(self, *, series: bool = False, job_status: str | None = None,
                 now: float | None = None) -> dict:
        """Plain dict, safe for ``json.dumps(..., allow_nan=False)``."""
        progress = self._progress_dict()
        finished = self._finished(progress["max_epochs"], progress["global_iter"],
                                  progress["total_iters"])
        status = job_status or self._status(finished)
        eta_s, eta_source = self._eta(progress, finished)
        if not finished and status.lower() not in RUNNING_STATES:
            eta_s, eta_source = None, None  # a dead job has no time left to estimate
        now = time.time() if now is None else now
        alerts = [a for a in (self._nonfinite.alert(), self.stall_alert(job_status, now)) if a is not None]
        snap = {
            "status": status,
            "progress": progress,
            "eta_s": eta_s,
            "eta_source": eta_source,
            "latest": {k: json_value(v) for k, v in self._latest.items()},
            "map_by_epoch": [
                {"epoch": e, **{k: (v if finite(v) and v != -1 else None) for k, v in m.items()}}
                for e, (_, m) in sorted(self._map.items())
            ],
            "best": self._best(),
            "alerts": alerts + self._alerts + self._resets,
            "errors": self.errors(),
            # What happened to the job before this attempt (a stop the user asked for, a resume).
            "history": [{k: v for k, v in h.items() if k != "text"} for h in self._history_in_order()],
            "history_line": attempt_marks.history_line(self._history_in_order()),
            "lr_scaling_line": self._lr_line,
            "coco_table": list(self._coco_table),
            "bad_lines": self._bad_lines,
            "records": self._records,
            "backlog_bytes": self._backlog_bytes,
            "catching_up": self._backlog_bytes > 0,
            "checkpoints": list(self._checkpoints),
            "last_write": self._newest_mtime,
            "idle_s": round(max(0.0, now - self._newest_mtime), 1) if self._newest_mtime else None,
        }
        snap["per_class"] = per_class.latest(snap["map_by_epoch"])  # CocoMetric(classwise=True): {class: AP}
        if series:
            # Buckets hold finite numbers only (DownsampledSeries leaves NaN/inf out), so they
            # are JSON-safe as they are: no per-value conversion, which was most of an open
            # Monitor's snapshot cost (13 series x 512 buckets at every logged line).
            snap["series"] = {k: v.buckets() for k, v in sorted(self._series.items())}
        return snap

    @property
    def empty(self) -> bool:
        """Nothing folded in yet."""
        return not (self._latest or self._series or self._map or self._progress or self._resets)

    def series(self, key: str) -> DownsampledSeries | None:
        return self._series.get(key)

