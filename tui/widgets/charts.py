"""Charts on textual-plotext, fed from the metrics snapshot's downsampled series (at most
max_buckets points each, so a chart never grows with the length of the run)."""

from __future__ import annotations

import time

from textual.geometry import Region
from textual.strip import Strip
from textual_plotext import PlotextPlot

from launcher.monitor.values import is_loss_key
from tui.widgets.changed_text import changed_span

# plotext's named colours are the terminal's 16 ANSI colours: they survive without truecolor.
LOSS_COLORS = {"loss": "white", "loss_rpn_cls": "cyan", "loss_rpn_bbox": "blue", "loss_cls": "magenta",
               "loss_bbox": "yellow"}
OTHER_COLORS = ("green", "red", "cyan", "magenta", "yellow", "blue")
EMA_ALPHA = 0.15


def mids(buckets: list[list]) -> tuple[list[float], list[float]]:
    """(steps, bucket mid-points), leaving out non-finite values (JSON-safe strings in a snapshot)."""
    xs, ys = [], []
    for step, lo, hi in buckets:
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            xs.append(step)
            ys.append((lo + hi) / 2)
    return xs, ys


def ema(values: list[float], alpha: float = EMA_ALPHA) -> list[float]:
    out, acc = [], None
    for v in values:
        acc = v if acc is None else acc + alpha * (v - acc)
        out.append(acc)
    return out


def loss_keys(series: dict) -> list[str]:
    keys = [k for k in series if is_loss_key(k)]
    return sorted(keys, key=lambda k: (k != "loss", k))


def _cells(strip: Strip) -> list[tuple[str, object]]:
    """What each cell of a rendered line shows (plotext draws one cell a character: braille, box
    lines, digits)."""
    return [(char, seg.style) for seg in strip for char in seg.text]


class Chart(PlotextPlot):
    """A PlotextPlot with a placeholder when there is nothing to draw yet, that knows what
    drawing it costs: plotext rebuilds the whole figure, tens of ms for a full-screen chart.

    Until its first figure (data or placeholder) it draws nothing, not plotext's empty axes:
    the Monitor's first frame comes before the job's history is read, and a figure built for
    that frame alone was replaced a moment later."""

    _cpu_last = 0.0  # CPU seconds the previous figure took to draw
    _cpu_now = 0.0  # ... and the current one, so far
    _has_figure = False

    @property
    def redraw_cpu_s(self) -> float:
        """CPU seconds (this thread) the latest redraw took: the figure, then its lines."""
        return max(self._cpu_last, self._cpu_now)

    def render_lines(self, crop: Region) -> list[Strip]:
        start = time.thread_time()
        try:
            return super().render_lines(crop)
        finally:
            self._cpu_now += time.thread_time() - start

    def render(self):
        return super().render() if self._has_figure else ""

    def _new_figure(self) -> None:
        self._has_figure = True
        # The theme first: plotext picks a series' colour codes by the theme in force when the
        # series is added, and render() sets it only afterwards (it used to be set already by
        # the placeholder figure drawn on mount).
        self.plt.theme(self._get_plotext_theme_name(self.app.theme))
        if self._cpu_now:
            self._cpu_last, self._cpu_now = self._cpu_now, 0.0

    def _begin(self, title: str, xlabel: str) -> None:
        self._new_figure()
        plt = self.plt
        plt.clear_data()
        plt.title(title)
        plt.xlabel(xlabel)

    def _empty(self, text: str) -> None:
        self._new_figure()
        self.epochs = []
        self.plt.clear_data()
        self.plt.title(text)
        self._repaint_changed()

    def _repaint_changed(self) -> None:
        """Draws the new figure now and repaints only the cells that changed: a new point moves
        the curve's end (its scale now and then), while the frame, the title, the ticks and the
        legend stay, and a whole repaint sends all of them again over the user's SSH link.
        (Textual's own render cache is filled here, so the repaint does not draw it twice.)"""
        old = self._render_cache
        # Nothing drawn at this size yet, or the one line of the blank before the first figure: whole.
        if not self.is_mounted or old.size != self.size or len(old.lines) != self.size.height or not self.size.area:
            self.refresh()
            return
        start = time.thread_time()
        self._layout_cache.clear()  # where Textual keeps the previous figure's visual
        self._render_content()
        self._cpu_now += time.thread_time() - start
        changed = []
        for y, (a, b) in enumerate(zip(old.lines, self._render_cache.lines)):
            if a == b:
                continue
            cells_a, cells_b = _cells(a), _cells(b)
            # A wide character would put the cells off their columns: then the line whole.
            whole = len(cells_a) != a.cell_length or len(cells_b) != b.cell_length
            span = (0, self.size.width) if whole else changed_span(cells_a, cells_b)
            if span is not None:
                changed.append(Region(span[0], y, span[1] - span[0], 1))
        if changed:
            self.refresh(*changed)
            self._dirty_regions.clear()  # drawn already: render_line takes the lines just drawn


class LossChart(Chart):
    def show(self, series: dict, smoothing: bool, reference: tuple[str, list[list[float]]] | None = None) -> None:
        """REFERENCE: (name, [[iteration on this run's axis, loss], ...]), drawn behind the run's total loss."""
        keys = loss_keys(series)
        if not keys:
            self._empty("loss: no train line logged yet")
            return
        self._begin("loss" + (" (smoothed)" if smoothing else ""), "iteration")
        if reference and reference[1]:
            last = max((mids(series[k])[0][-1:] or [0])[0] for k in keys)
            # Only the part of the reference's schedule this run has reached, so the y range
            # stays the run's; the reference's loss is already a mean per bin, not smoothed again.
            points = [p for p in reference[1] if p[0] <= max(last, reference[1][0][0])]
            if points:
                self.plt.plot([p[0] for p in points], [p[1] for p in points], label=f"ref {reference[0]}",
                              marker="braille", color="yellow")
        for i, key in enumerate(keys):
            xs, ys = mids(series[key])
            if not xs:
                continue
            self.plt.plot(xs, ema(ys) if smoothing else ys, label=key, marker="braille",
                          color=LOSS_COLORS.get(key, OTHER_COLORS[i % len(OTHER_COLORS)]))
        self._repaint_changed()


class LrChart(Chart):
    def show(self, series: dict) -> None:
        xs, ys = mids(series.get("lr") or [])
        if not xs:
            self._empty("lr: no train line logged yet")
            return
        self._begin("learning rate", "iteration")
        self.plt.plot(xs, ys, label="lr", marker="braille", color="green")
        self._repaint_changed()


class MapChart(Chart):
    epochs: list[int] = []

    def render(self):
        # Integer epoch ticks, as many as fit the width the chart has now (plotext would pick fractions).
        if self.epochs:
            room = max(1, (self.size.width - 12) // 5)
            step = -(-len(self.epochs) // room)
            self.plt.xticks(self.epochs[::step])
        return super().render()

    def show(self, rows: list[dict], reference_ap: float | None, metric: str = "bbox_mAP",
             reference: tuple[str, list[list]] | None = None) -> None:
        """REFERENCE: (name, [[epoch, mAP], ...]) of a reference run, drawn per epoch; without
        one, the preset's final reference AP is a flat line."""
        points = [(r["epoch"], 100 * r[metric]) for r in rows if isinstance(r.get(metric), (int, float))]
        if not points:
            self._empty("mAP: no evaluation yet")
            return
        self._begin("box mAP per epoch (%)", "epoch")
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ref_points = [(e, 100 * v) for e, v in (reference[1] if reference else []) if isinstance(v, (int, float))]
        if ref_points:
            shown = [p for p in ref_points if p[0] <= max(xs) + 1] or ref_points[:1]
            self.plt.plot([p[0] for p in shown], [p[1] for p in shown], label=f"ref {reference[0]}",
                          color="yellow", marker="hd")
            self.plt.scatter([p[0] for p in shown], [p[1] for p in shown], color="yellow", marker="x")
        elif reference_ap:
            lo, hi = min(xs), max(max(xs), min(xs) + 1)
            # The preset's final AP: what the run aims at by the end, not a value per epoch.
            self.plt.plot([lo, hi], [reference_ap, reference_ap], label=f"target {reference_ap:g}",
                          color="yellow", marker="hd")
        self.plt.plot(xs, ys, label="mAP", color="green", marker="hd")
        self.plt.scatter(xs, ys, color="green", marker="o")
        self.epochs = xs
        self._repaint_changed()
