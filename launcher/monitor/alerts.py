"""Alert rules over a job's metrics: each rule is fed records and says what to flag.

An alert is a plain dict ``{"kind", "step", "message"}`` (JSON-safe), shown by the
watch view, ``--json`` and the TUI. A new rule is a class here that ``JobMetrics``
feeds and whose alerts it lists.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from typing import Sequence

from launcher.monitor.scalars import ScalarBatch
from launcher.monitor.values import is_loss_key, json_value
from launcher.monitor import STALL_GRACE_S

__all__ = ["DivergenceRule", "InputBoundRule", "NonFiniteLossRule", "StallRule"]


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

    It judges at every ``window``-th finite value after the warmup, counted over the whole
    run, so the alerts are the same however the lines arrive: one at a time while a job is
    followed, or in large batches when its history is read again.
    """

    def __init__(self, window: int = 10, ratio: float = 2.0, min_rise: float = 0.05,
                 warmup_iters: int = 500) -> None:
        self.window, self.ratio, self.min_rise, self.warmup_iters = window, ratio, min_rise, warmup_iters
        self._recent: deque[float] = deque(maxlen=window)
        self._best = math.inf
        self._best_step: int | None = None
        self._firing = False
        self._since_judged = 0  # finite values fed since the last judgement

    def feed(self, steps: Sequence[int], losses: Sequence[float]) -> list[dict]:
        alerts = []
        i = bisect_right(steps, self.warmup_iters)
        n = len(losses)
        while i < n:
            j = min(n, i + self.window - self._since_judged)
            block = losses[i:j]
            total = sum(block)
            if total - total != 0:
                block = [v for v in block if v - v == 0]
            self._recent.extend(block)
            self._since_judged += len(block)
            i = j
            if self._since_judged == self.window:
                self._since_judged = 0
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


class NonFiniteLossRule:
    """The first non-finite loss of the run.

    From scalars.json it is the earliest such line by stream position (a skim peek may
    arrive before earlier lines do); the text log's first such line stands in when
    the scalars have none (a run killed before its scalars were flushed).
    """

    def __init__(self) -> None:
        self._scalar: tuple[tuple[int, int], dict] | None = None
        self._text: dict | None = None

    def feed(self, b: ScalarBatch, columns: dict, steps: list) -> None:
        """``columns``: the batch's numeric columns; ``steps``: its step column as ints."""
        first = None
        for k, col in columns.items():
            if not is_loss_key(k):
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
        if self._scalar is not None and self._scalar[0] <= pos:
            return
        bad = ", ".join(f"{k}={json_value(col[first])}" for k, col in columns.items()
                        if is_loss_key(k) and col[first] - col[first] != 0)
        epoch = columns["epoch"][first] if "epoch" in columns else None
        where = f"step {steps[first]}" + (f" (epoch {epoch})" if epoch is not None else "")
        self._scalar = (pos, {"kind": "nonfinite_loss", "step": steps[first],
                              "message": f"non-finite loss at {where}: {bad}"})

    def feed_text(self, line: str, source: str, step: int | None) -> None:
        if self._text is None:
            self._text = {"kind": "nonfinite_loss", "step": step,
                          "message": f"non-finite loss in {source}: {line.strip()}"}

    def alert(self) -> dict | None:
        return self._scalar[1] if self._scalar else self._text


class StallRule:
    """No new log line for several of the job's usual intervals while its processes live: a
    hung rank (a stuck collective, a stopped process) blocks every other rank, and nothing
    says so but the silence.

    The usual interval is learned from the job itself: the median step gap between logged
    training lines times the median iteration time. Silence counts any log file of the work
    dir (scalars, the text log, stdout/stderr: validation and checkpointing print there).
    The limit is ``factor`` intervals plus ``slack_s`` (validation, a checkpoint save, a
    slow disk), so a stall shows within ``factor`` intervals + ``slack_s`` + one poll. It
    clears as soon as a line comes again. Not judged before the first training line (no
    interval yet) nor once the job's processes are gone (that is a failure, not a stall).
    """

    def __init__(self, factor: float = 3.0, slack_s: float = STALL_GRACE_S, window: int = 16) -> None:
        self.factor, self.slack_s = factor, slack_s
        self._gaps: deque[int] = deque(maxlen=window)
        self._times: deque[float] = deque(maxlen=window)
        self._last_step: int | None = None

    def feed(self, steps: Sequence[int], times: Sequence[float] | None) -> None:
        for s in steps[-self._gaps.maxlen - 1:]:
            if self._last_step is not None and s > self._last_step:
                self._gaps.append(s - self._last_step)
            self._last_step = s if self._last_step is None else max(s, self._last_step)
        for t in (times or [])[-self._times.maxlen:]:
            if isinstance(t, (int, float)) and t - t == 0 and t > 0:
                self._times.append(float(t))

    def interval_s(self) -> float | None:
        if not self._times:
            return None
        gap = sorted(self._gaps)[len(self._gaps) // 2] if self._gaps else 1
        return gap * sorted(self._times)[len(self._times) // 2]

    def judge(self, idle_s: float | None, processes_live: bool) -> dict | None:
        interval = self.interval_s()
        if not processes_live or idle_s is None or interval is None:
            return None
        limit = self.factor * interval + self.slack_s
        if idle_s < limit:
            return None
        return {"kind": "stalled", "step": self._last_step,
                "message": (f"no log line for {idle_s:.0f} s while the job's processes live (usual interval "
                            f"{interval:.1f} s, limit {limit:.0f} s): a rank may be hung (stuck collective, "
                            f"stopped process)")}


class InputBoundRule:
    """Data loading is the bottleneck: ``data_time`` (MMEngine's time waiting for the batch, part
    of ``time``, the whole iteration) above ``ratio`` of the iteration for ``intervals`` logged
    lines in a row (each line is already a mean over its logging interval, so one slow batch
    cannot trip it). Fires once per episode, re-arms at the first line under the ratio. The
    usual causes are few loader workers, workers re-created every epoch, and OpenCV's own
    threads in every worker fighting over the cores (mmdetection#3306, #11354)."""

    FIXES = ("more train_dataloader.num_workers, train_dataloader.persistent_workers=True, "
             "and one OpenCV thread per worker (env_cfg.opencv_num_threads=0 or 1)")

    def __init__(self, ratio: float = 1 / 3, intervals: int = 5) -> None:
        self.ratio, self.intervals = ratio, intervals
        self._run: list[tuple[float, float]] = []
        self._firing = False

    def feed(self, steps: Sequence[int], data_times: Sequence[float], times: Sequence[float]) -> list[dict]:
        alerts = []
        for step, dt, t in zip(steps, data_times, times):
            if not (isinstance(dt, (int, float)) and isinstance(t, (int, float)) and t > 0 and dt - dt == 0):
                continue
            if dt <= self.ratio * t:
                self._run.clear()
                self._firing = False
                continue
            self._run.append((dt, t))
            if len(self._run) >= self.intervals and not self._firing:
                self._firing = True
                recent = self._run[-self.intervals:]
                mean_dt = sum(d for d, _ in recent) / len(recent)
                mean_t = sum(x for _, x in recent) / len(recent)
                # data_time and time by MMEngine's names: what a user greps the log and scalars.json for.
                alerts.append({"kind": "input-bound", "step": step, "data_time": mean_dt, "time": mean_t,
                               "message": (f"data loading (data_time) takes {mean_dt:.3f} s of each {mean_t:.3f} s "
                                           f"iteration ({100 * mean_dt / mean_t:.0f}%) for {len(recent)} logged "
                                           f"intervals in a row: the model waits for its data. Usual fixes: {self.FIXES}")})
            del self._run[:-self.intervals]
        return alerts
