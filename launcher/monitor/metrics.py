"""Live metrics of one training job, built from ``WorkDirTailer`` updates.

``JobMetrics.update(tail_update)`` folds new records in; ``snapshot()`` returns a
plain, JSON-safe dict for the watch view, ``--json`` and the TUI.

Memory stays bounded however long the run: each series keeps at most
``max_buckets`` min/max buckets (see ``DownsampledSeries``), and everything else
is per epoch or capped.
"""

from __future__ import annotations

import math
import os
import time
from bisect import bisect_left, bisect_right
from collections import deque
from typing import Sequence

from launcher.monitor.log_tail import ScalarBatch, TailUpdate, TrainProgress, WorkDirTailer, parse_train_line

__all__ = ["CATCH_UP_BYTES", "RUNNING_STATES", "DivergenceRule", "DownsampledSeries", "JobMetrics",
           "catch_up", "snapshot_of_work_dir"]

# Job states (from the launcher's registry) that mean the job is still alive.
RUNNING_STATES = frozenset({"running", "starting", "launching", "queued", "pending", "waiting"})

# Scalars parsed per poll while catching up on history: big enough to catch up in
# seconds, small enough that a live view and Ctrl-C stay responsive, and that one
# TailUpdate stays a few tens of MiB however long the history.
CATCH_UP_BYTES = 8 << 20
_POSITION_KEYS = ("epoch", "iter", "step")
_RECENT_TIMES = 8
_MAX_ALERTS = 50
_MAX_COCO_LINES = 24
# pycocotools prints this line first in every summary; it starts a new table.
_COCO_TABLE_START = "(AP) @[ IoU=0.50:0.95 | area=   all"
_NEVER = (-1, -1)


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v - v == 0


def _json_value(v: object) -> object:
    """JSON has no NaN or Infinity; they become strings so the reader still sees them."""
    if isinstance(v, float) and v - v != 0:
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


def _is_loss_key(k: str) -> bool:
    return k == "loss" or k.startswith("loss_")


class DownsampledSeries:
    """At most ``max_buckets`` (step, min, max) buckets over all points ever added.

    Bucket j always covers points [j*w, (j+1)*w) for a width w that doubles (and
    neighbours merge pairwise) whenever the buckets would overflow, so a spike
    survives as some bucket's max however long the run. Non-finite points are left
    out of the buckets (the NaN alert reports them) but still become ``last``.
    """

    def __init__(self, max_buckets: int = 512) -> None:
        self._k = max(2, max_buckets)
        self._width = 1
        self._count = 0
        self._steps: list[int] = []
        self._mins: list[float] = []
        self._maxs: list[float] = []
        self._last_step = 0
        self.last: tuple[int, float] | None = None

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def count(self) -> int:
        return self._count

    def append(self, step: int, value: float) -> None:
        self.extend([step], [value])

    def extend(self, steps: Sequence[int], values: Sequence[float]) -> None:
        """Adds points in step order; a step at or before the last one (a resume from
        an earlier checkpoint) first drops the buckets it supersedes."""
        if not values:
            return
        self.last = (steps[-1], values[-1])
        total = sum(values)
        if total - total != 0:  # a NaN/inf inside; cheaper than testing every point
            kept = [(s, v) for s, v in zip(steps, values) if v - v == 0]
            if not kept:
                return
            steps, values = [s for s, _ in kept], [v for _, v in kept]
        if self._steps and steps[0] <= self._last_step:
            self._rewind(steps[0])
        n = len(values)
        count = self._count + n
        while -(-count // self._width) > self._k:
            self._halve()
        w = self._width
        i = 0
        if self._steps:
            room = w - (self._count - (len(self._steps) - 1) * w)
            if room > 0:
                seg = values[:room]
                self._mins[-1] = min(self._mins[-1], min(seg))
                self._maxs[-1] = max(self._maxs[-1], max(seg))
                i = len(seg)
        while i < n:
            seg = values[i:i + w]
            self._steps.append(steps[i])
            self._mins.append(min(seg))
            self._maxs.append(max(seg))
            i += w
        self._count = count
        self._last_step = steps[-1]

    def buckets(self) -> list[list]:
        return [[s, lo, hi] for s, lo, hi in zip(self._steps, self._mins, self._maxs)]

    def _halve(self) -> None:
        mins, maxs = self._mins, self._maxs
        self._steps = self._steps[0::2]
        self._mins = [min(mins[j:j + 2]) for j in range(0, len(mins), 2)]
        self._maxs = [max(maxs[j:j + 2]) for j in range(0, len(maxs), 2)]
        self._width *= 2

    def _rewind(self, step: int) -> None:
        keep = bisect_left(self._steps, step)
        del self._steps[keep:], self._mins[keep:], self._maxs[keep:]
        # The kept buckets are treated as full, which keeps bucket j at [j*w, (j+1)*w).
        self._count = keep * self._width


class DivergenceRule:
    """Flags a loss that keeps rising, not one noisy line.

    The rule: after ``warmup_iters`` (the lr warmup, when loss still falls fast),
    the smoothed loss is the median of the last ``window`` logged values (each is
    already MMEngine's mean over its 50-iteration window, so 10 lines = 500
    iterations). It fires when the smoothed loss exceeds ``ratio`` times the
    lowest smoothed loss seen so far *and* is at least ``min_rise`` above it (so a
    loss near zero cannot trip it on noise). It fires once per episode and re-arms
    when the smoothed loss comes back under the midpoint of 1 and ``ratio``. A
    median ignores single spikes; non-finite values are the NaN alert's business.
    """

    def __init__(self, window: int = 10, ratio: float = 2.0, min_rise: float = 0.05,
                 warmup_iters: int = 500) -> None:
        self.window, self.ratio, self.min_rise, self.warmup_iters = window, ratio, min_rise, warmup_iters
        self._recent: deque[float] = deque(maxlen=window)
        self._best = math.inf
        self._best_step: int | None = None
        self._firing = False

    def feed(self, steps: Sequence[int], losses: Sequence[float]) -> list[dict]:
        alerts = []
        i = bisect_right(steps, self.warmup_iters)
        n = len(losses)
        while i < n:
            j = min(n, i + self.window)
            block = losses[i:j]
            total = sum(block)
            if total - total != 0:
                block = [v for v in block if v - v == 0]
            self._recent.extend(block)
            i = j
            if len(self._recent) == self.window:
                alert = self._judge(steps[j - 1])
                if alert:
                    alerts.append(alert)
        return alerts

    def _judge(self, step: int) -> dict | None:
        smoothed = sorted(self._recent)[self.window // 2]
        if smoothed < self._best:
            self._best, self._best_step = smoothed, step
        if self._firing:
            if smoothed < self._best * (1 + self.ratio) / 2:
                self._firing = False
            return None
        if smoothed > self.ratio * self._best and smoothed - self._best >= self.min_rise:
            self._firing = True
            return {
                "kind": "divergence",
                "step": step,
                "message": (f"loss {smoothed:.4g} (median of last {self.window} logged) is "
                            f"{smoothed / self._best:.1f}x its minimum {self._best:.4g} "
                            f"(step {self._best_step})"),
            }
        return None


class JobMetrics:
    """Folds ``TailUpdate``s into series, progress, mAP, alerts and errors.

    Not thread-safe: poll, update and snapshot from one thread (in the TUI, one
    worker) and hand the snapshot dict to whoever renders it.
    """

    def __init__(self, *, max_epochs: int | None = None, reference_ap: float | None = None,
                 warmup_iters: int = 500, max_buckets: int = 512) -> None:
        self.max_epochs = max_epochs
        self.reference_ap = reference_ap
        self.warmup_iters = warmup_iters
        self.max_buckets = max_buckets
        self._resets: list[dict] = []
        self._clear()

    def _clear(self) -> None:
        self._series: dict[str, DownsampledSeries] = {}
        self._divergence = DivergenceRule(warmup_iters=self.warmup_iters)
        self._latest: dict = {}
        self._latest_pos = _NEVER
        self._recent_times: dict[tuple[int, int], float] = {}
        self._map: dict[int, tuple[tuple[int, int], dict]] = {}
        self._nonfinite: tuple[tuple[int, int], dict] | None = None
        self._text_nonfinite: dict | None = None
        self._alerts: list[dict] = []
        self._progress: TrainProgress | None = None
        self._checkpoints: list[str] = []
        self._config_max_epochs: int | None = None
        self._errors = {"first_error_line": None, "first_error_source": None,
                        "last_error_line": None, "error_count": 0,
                        "traceback": None, "last_traceback": None}
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
        self._check_nonfinite(b, columns, steps)
        if not in_order:
            return  # a skim peek: the in-order parse will deliver it again
        for k, col in columns.items():
            if k not in _POSITION_KEYS:
                series = self._series.get(k)
                if series is None:
                    series = self._series[k] = DownsampledSeries(self.max_buckets)
                series.extend(steps, col)
        if "loss" in columns:
            for alert in self._divergence.feed(steps, columns["loss"]):
                self._add_alert(alert)

    def _check_nonfinite(self, b: ScalarBatch, columns: dict, steps: list) -> None:
        first = None
        for k, col in columns.items():
            if not _is_loss_key(k):
                continue
            total = sum(col)
            if total - total == 0:
                continue
            i = next((i for i, v in enumerate(col) if v - v != 0), None)
            if i is not None and (first is None or i < first):
                first = i
        if first is None:
            return
        pos = b.pos(first)
        if self._nonfinite is not None and self._nonfinite[0] <= pos:
            return
        bad = ", ".join(f"{k}={_json_value(col[first])}" for k, col in columns.items()
                        if _is_loss_key(k) and col[first] - col[first] != 0)
        epoch = columns["epoch"][first] if "epoch" in columns else None
        where = f"step {steps[first]}" + (f" (epoch {epoch})" if epoch is not None else "")
        self._nonfinite = (pos, {"kind": "nonfinite_loss", "step": steps[first],
                                 "message": f"non-finite loss at {where}: {bad}"})

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
        errors = self._errors
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
        elif kind == "nonfinite" and self._text_nonfinite is None:
            progress = parse_train_line(text)
            step = self._global_iter_of(progress) if progress else None
            self._text_nonfinite = {"kind": "nonfinite_loss", "step": step,
                                    "message": f"non-finite loss in {source}: {text.strip()}"}

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
        times = sorted(t for p in recent if _finite(t := self._recent_times[p]) and t > 0)
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

    def _checkpoint_for(self, epoch: int) -> str | None:
        names = {os.path.basename(c): c for c in self._checkpoints}
        if f"epoch_{epoch}.pth" in names:
            return names[f"epoch_{epoch}.pth"]
        return next((c for n, c in sorted(names.items())
                     if n.startswith("best_") and n.endswith(f"_epoch_{epoch}.pth")), None)

    def _best(self) -> dict | None:
        key = self._primary_key()
        if key is None:
            return None
        scored = [(m[key], e) for e, (_, m) in self._map.items()
                  if _finite(m.get(key)) and m[key] >= 0]
        if not scored:
            return None
        value, epoch = max(scored, key=lambda s: (s[0], -s[1]))
        percent = round(value * 100, 2)
        ref = self.reference_ap
        return {"epoch": epoch, "metric": key, key: value, "value": value, "percent": percent,
                "checkpoint": self._checkpoint_for(epoch), "reference_ap": ref,
                "gap_to_reference": round(percent - ref, 2) if ref is not None else None}

    def _status(self, finished: bool) -> str:
        if finished:
            return "finished"
        if self._errors["traceback"] is not None:
            return "failed"
        if not self._latest and self._progress is None:
            return "waiting"
        return "running"

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
        alerts = [a for a in (self._nonfinite[1] if self._nonfinite else self._text_nonfinite,)
                  if a is not None]
        now = time.time() if now is None else now
        snap = {
            "status": status,
            "progress": progress,
            "eta_s": eta_s,
            "eta_source": eta_source,
            "latest": {k: _json_value(v) for k, v in self._latest.items()},
            "map_by_epoch": [
                {"epoch": e, **{k: (v if _finite(v) and v != -1 else None) for k, v in m.items()}}
                for e, (_, m) in sorted(self._map.items())
            ],
            "best": self._best(),
            "alerts": alerts + self._alerts + self._resets,
            "errors": dict(self._errors),
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
        if series:
            snap["series"] = {k: [[s, _json_value(lo), _json_value(hi)] for s, lo, hi in v.buckets()]
                              for k, v in sorted(self._series.items())}
        return snap

    def series(self, key: str) -> DownsampledSeries | None:
        return self._series.get(key)


def catch_up(tailer: WorkDirTailer, metrics: JobMetrics) -> bool:
    """Reads everything on disk into ``metrics``, a bounded piece at a time;
    returns whether anything changed."""
    changed = False
    while True:
        upd = tailer.poll(max_bytes=CATCH_UP_BYTES, skim=False)
        changed |= metrics.update(upd)
        if not upd.backlog_bytes:
            return changed


def snapshot_of_work_dir(work_dir: str | os.PathLike, *, max_epochs: int | None = None,
                         reference_ap: float | None = None, warmup_iters: int = 500,
                         series: bool = False, max_bytes: int | None = None,
                         job_status: str | None = None) -> dict:
    """One-shot snapshot of a work dir, every line read (``max_bytes=None``).

    With ``max_bytes`` it is one skimmed poll instead: progress, latest values,
    mAP, best and the first NaN are still exact, at a fraction of the cost on a
    long history (good for a job list); series and the divergence alert then cover
    only the first ``max_bytes``.
    """
    tailer = WorkDirTailer(work_dir)
    metrics = JobMetrics(max_epochs=max_epochs, reference_ap=reference_ap, warmup_iters=warmup_iters)
    if max_bytes is None:
        catch_up(tailer, metrics)
    else:
        metrics.update(tailer.poll(max_bytes=max_bytes))
    return metrics.snapshot(series=series, job_status=job_status)
