"""A metric series of any length in bounded memory: min/max buckets that keep every spike."""

from __future__ import annotations

from bisect import bisect_left
from typing import Sequence

__all__ = ["DownsampledSeries"]


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
