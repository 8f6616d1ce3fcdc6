"""Monitor: one job's loss (total and components), lr, mAP per epoch against the preset's
reference, progress and ETA, its GPUs, and its logs with errors standing out.

A JobWatcher thread (tui.watcher) reads the work dir and posts MetricsUpdated /
LogLines; this screen only renders them. Leaving it never touches the job.

Rendering costs: the summary, progress and log lines are cheap and follow every
snapshot; a chart costs tens of ms (plotext draws the whole figure each time), so only
the visible tab's chart is redrawn, only when what it plots changed, and while the job
logs, no more often than keeps the charts within CHART_CPU_SHARE of a core (at once on
the first snapshot, a tab switch or a smoothing toggle). A covered screen renders nothing
and catches up when it shows again.
"""

from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import (DataTable, ProgressBar, RichLog, Static, TabbedContent,
                             TabPane)
from rich.text import Text

from launcher.hardware.gpu_probe import Inventory
from launcher.jobs import status_words
from tui.format import ap, styled
from tui.job_actions import ask_stop, start_report
from tui.messages import JobActionDone, LogLines, MetricsUpdated
from tui.screens import monitor_text
from tui.styles import use_styles
from tui.visibility import screen_visible
from tui.watcher import JobWatcher
from tui.widgets.changed_text import ChangedText
from tui.widgets.charts import LossChart, LrChart, MapChart, loss_keys
from tui.widgets.key_bar import KeyBar
from tui.widgets.gpu_panel import GpuRow
from tui.widgets.title_bar import TitleBar

MAP_COLUMNS = (("mAP", "bbox_mAP"), ("AP50", "bbox_mAP_50"), ("AP75", "bbox_mAP_75"), ("APs", "bbox_mAP_s"),
               ("APm", "bbox_mAP_m"), ("APl", "bbox_mAP_l"))
TABS = ("loss", "lr", "map", "log", "gpus")
CHARTS = ("loss", "lr", "map")
# While a job logs, its visible chart is redrawn at most every (CPU time of its last redraw
# / CHART_CPU_SHARE) seconds, within CHART_PERIOD_S: ~20 s for a 120x40 terminal on a slow,
# busy core (40-50 ms a redraw), 10 s where drawing is cheap: each redraw is ~3 KB to the
# terminal (the cells the new points moved), and at one every 2-5 s the charts alone were
# 36-90 KB a minute over the user's SSH link (issue 28: the Monitor within 30 KB/min).
# A job that logs less often than that gets its chart redrawn at each line.
CHART_CPU_SHARE = 0.002  # of one core: 0.12 CPU-s a minute
CHART_PERIOD_S = (10.0, 30.0)


class JobProgress(ProgressBar):
    """A ProgressBar without its own once-a-second tick: that tick only refreshes the ETA
    ProgressBar estimates itself, which this one does not show (the job's ETA is #eta)."""

    def update(self, **kwargs: Any) -> None:
        if kwargs:
            super().update(**kwargs)


class MonitorScreen(Screen):
    BINDINGS = [
        Binding("1", "tab('loss')", "Loss", show=False),
        Binding("2", "tab('lr')", "lr", show=False),
        Binding("3", "tab('map')", "mAP", show=False),
        Binding("4", "tab('log')", "Log", show=False),
        Binding("5", "tab('gpus')", "GPUs", show=False),
        Binding("6", "tab('stacks')", "Stacks", show=False),
        Binding("s", "smoothing", "Smoothing"),
        Binding("x", "stop", "Stop…"),
        Binding("w", "report", "Report", tooltip="Write this job's reproduction report (report.md + charts)"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, record: Any) -> None:
        super().__init__()
        self.record = record
        self.snapshot: dict | None = None
        self.smoothing = True
        self.error_lines: set[str] = set()
        self.watcher: JobWatcher | None = None
        self._map_shown: tuple[list, int | None] | None = None
        self._errors_shown: tuple | None = None
        self._summary_shown: tuple | None = None
        self._banner_shown: object = ()  # never a banner's content: the first snapshot always renders
        self._progress_shown: tuple | None = None
        self._charted: dict[str, Any] = {}  # chart tab -> what it plots now (redrawn only when that changes)
        self._charted_at: dict[str, float] = {}  # chart tab -> monotonic time of its last redraw
        self._chart_timer: Timer | None = None
        self._behind = False  # a snapshot or an inventory came while the screen was covered
        use_styles(self, "monitor")

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static(id="banner")
        yield ChangedText(id="job-summary")
        with Horizontal(id="progress-row"):
            yield JobProgress(total=100, show_eta=False, id="progress")
            yield ChangedText(id="eta")
        with TabbedContent(id="tabs", initial="loss"):
            with TabPane("1 Loss", id="loss"):
                yield LossChart(id="loss-chart")
            with TabPane("2 lr", id="lr"):
                yield LrChart(id="lr-chart")
            with TabPane("3 mAP", id="map"):
                with Horizontal():
                    with Vertical(id="map-left"):
                        yield DataTable(id="map-table", cursor_type="row", zebra_stripes=True)
                        yield Static(id="best")
                        yield Static(id="per-class")
                    yield MapChart(id="map-chart")
            with TabPane("4 Log", id="log"):
                yield Static(id="errors")
                yield RichLog(id="log-view", max_lines=5000, wrap=False, markup=False, highlight=False)
            with TabPane("5 GPUs", id="gpus"):
                yield VerticalScroll(id="job-gpus")
            with TabPane("6 Stacks", id="stacks"):  # shown once a stalled run's stacks were dumped
                with VerticalScroll():
                    yield Static(id="stacks-view")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self.query_one("#tabs", TabbedContent).hide_tab("stacks")
        self._stacks_shown: list[str] = []
        self.query_one("#errors").display = False
        self.query_one("#per-class").display = False
        table = self.query_one("#map-table", DataTable)
        table.add_column("epoch", key="epoch")
        for label, key in MAP_COLUMNS:
            table.add_column(label, key=key)
        # No chart yet: the first snapshot draws the visible one (its placeholder if nothing is
        # logged), a tab its own when it opens; plotext's figures cost tens of ms each.
        self._render_summary()
        self.app.inventory_changed.subscribe(self, self._on_inventory)
        if self.app.inventory is not None:
            self._on_inventory(self.app.inventory)
        self.watcher = JobWatcher(self.record, self, interval=self.app.watch_interval, clock=self.app.clock)
        self.watcher.start()

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    # -- rendering the snapshot -----------------------------------------------

    def on_metrics_updated(self, message: MetricsUpdated) -> None:
        previous = self.snapshot
        snap = self.snapshot = message.snapshot
        if (previous or {}).get("status") != snap.get("status"):
            self.refresh_bindings()  # Stop… applies while the job runs (check_action)
        errors = snap.get("errors") or {}
        for key in ("traceback", "last_traceback"):
            if errors.get(key):
                self.error_lines.update(line.strip() for line in errors[key].splitlines() if len(line.strip()) > 3)
        for key in ("first_error_line", "last_error_line"):
            if errors.get(key):
                self.error_lines.add(errors[key].strip())
        if not screen_visible(self):
            self._behind = True
            return
        self._render_snapshot(charts_now=previous is None)  # the first one (the history so far) at once

    def _render_snapshot(self, charts_now: bool) -> None:
        snap = self.snapshot or {}
        self._render_summary()
        self._render_banner(snap)
        self._render_map(snap)
        self._render_errors(snap.get("errors") or {}, snap.get("rank_failure"))
        self._render_stacks(snap.get("stacks") or [])
        self._update_charts(now=charts_now)

    def on_screen_resume(self) -> None:
        if self._behind:
            self._behind = False
            if self.app.inventory is not None:
                self._on_inventory(self.app.inventory)
            self._render_snapshot(charts_now=True)

    # -- charts ------------------------------------------------------------------

    def _chart_input(self, tab: str) -> Any:
        """What the chart on `tab` plots from the current snapshot (compared, never hashed)."""
        snap = self.snapshot or {}
        series = snap.get("series") or {}
        ref = snap.get("reference") or {}
        if tab == "loss":
            return self.smoothing, [(key, series[key]) for key in loss_keys(series)], ref.get("loss_curve")
        if tab == "lr":
            return series.get("lr") or []
        best = snap.get("best") or {}
        return snap.get("map_by_epoch") or [], best.get("metric") or "bbox_mAP", ref.get("map_by_epoch")

    def _draw_chart(self, tab: str) -> None:
        data = self._charted[tab] = self._chart_input(tab)
        name = ((self.snapshot or {}).get("reference") or {}).get("name")
        if tab == "loss":
            self.query_one(LossChart).show((self.snapshot or {}).get("series") or {}, self.smoothing,
                                           (name, data[2]) if data[2] else None)
        elif tab == "lr":
            self.query_one(LrChart).show((self.snapshot or {}).get("series") or {})
        else:
            rows, metric, ref_rows = data
            self.query_one(MapChart).show(rows, self.record.reference_ap, metric, (name, ref_rows) if ref_rows else None)

    def _update_charts(self, now: bool = False) -> None:
        """Redraw the visible tab's chart if what it plots changed: at once when `now`, else
        no sooner than `_chart_period` after its last redraw (a timer picks it up then)."""
        tab = self.query_one("#tabs", TabbedContent).active
        if tab not in CHARTS or self._chart_input(tab) == self._charted.get(tab):
            return
        wait = self._charted_at.get(tab, float("-inf")) + self._chart_period(tab) - time.monotonic()
        # The first points of an empty chart are drawn at once: a user who opens the Monitor
        # before the first log line should see the loss when it comes, not a period later.
        if now or wait <= 0 or not self._plots_anything(tab, self._charted.get(tab)):
            self._charted_at[tab] = time.monotonic()
            self._draw_chart(tab)
        elif self._chart_timer is None:
            self._chart_timer = self.set_timer(wait, self._chart_due, name="chart")

    @staticmethod
    def _plots_anything(tab: str, data: Any) -> bool:
        """Whether a chart input (as `_chart_input` returns it for `tab`) has a point to draw."""
        if data is None:
            return False
        return bool(data[1] if tab == "loss" else data if tab == "lr" else data[0])

    def _chart_period(self, tab: str) -> float:
        """Seconds between redraws that keep this chart within CHART_CPU_SHARE of a core."""
        chart = self.query_one({"loss": LossChart, "lr": LrChart, "map": MapChart}[tab])
        low, high = CHART_PERIOD_S
        return min(high, max(low, chart.redraw_cpu_s / CHART_CPU_SHARE))

    def _chart_due(self) -> None:
        self._chart_timer = None
        if screen_visible(self):
            self._update_charts()
        else:
            self._behind = True  # drawn when the screen shows again

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id != "tabs":
            return
        tab = event.pane.id
        if tab in CHARTS:
            if self.snapshot is not None:  # else the first snapshot draws it (the initial tab activates before)
                self._update_charts(now=True)
        elif tab == "gpus" and self.app.inventory is not None:
            self._on_inventory(self.app.inventory)

    def _render_summary(self) -> None:
        shown = monitor_text.summary(self.record, self.snapshot or {}, self.app.clock())
        if shown == self._summary_shown:
            return
        self._summary_shown = shown
        status, started, text, fraction, eta_text, devices = shown
        self.query_one("#job-summary", ChangedText).show(
            monitor_text.summary_content(self.record, status, started, text, devices))
        self._render_progress(100 * (fraction or 0))
        self.query_one("#eta", ChangedText).show(Content.from_markup(eta_text))

    def _render_progress(self, percent: float) -> None:
        # Only when the bar or its percentage would change: the bar has half-cell steps
        # (~1.5% each for its 32 cells), the label whole percents, and a job logging every
        # iteration moves it by far less than either at each line.
        bar = self.query_one("#progress", ProgressBar)
        width = bar.query_one("#bar").size.width
        fraction = min(1.0, max(0.0, percent / 100))  # as ProgressBar and its Bar compute it
        shown = (round(fraction * 100), round(width * fraction * 2), fraction < 1) if width else None
        if shown is None or shown != self._progress_shown:
            self._progress_shown = shown
            bar.update(progress=percent)

    def _render_banner(self, snap: dict) -> None:
        content = monitor_text.banner(snap.get("alerts") or [])
        # Most snapshots bring the same alerts (or none): updating a Static anyway costs a
        # refresh and a layout pass at every logged line.
        if content == self._banner_shown:
            return
        self._banner_shown = content
        banner = self.query_one("#banner", Static)
        if content is not None:
            banner.update(content)
        banner.display = content is not None

    def _render_map(self, snap: dict) -> None:
        rows = snap.get("map_by_epoch") or []
        table = self.query_one("#map-table", DataTable)
        best = snap.get("best") or {}
        if (rows, best.get("epoch")) == self._map_shown:  # unchanged: keep the user's cursor where it is
            return
        self._map_shown = (rows, best.get("epoch"))
        table.clear()
        for row in rows:
            is_best = row["epoch"] == best.get("epoch")
            cells = [styled(self.app, ap(row.get(key)), "pass", bold=True) if is_best and key == "bbox_mAP"
                     else ap(row.get(key)) for _, key in MAP_COLUMNS]
            table.add_row(str(row["epoch"]), *cells, key=str(row["epoch"]))
        self.query_one("#best", Static).update(monitor_text.best_note(snap))
        note = monitor_text.per_class_note(snap)
        self.query_one("#per-class", Static).update(note or "")
        self.query_one("#per-class").display = note is not None

    def _render_stacks(self, files: list[str]) -> None:
        """The newest stack dump (the sentinel's, on a stall): its tab appears with the first one;
        the files are read again only when a new dump replaces them."""
        if files == self._stacks_shown:
            return
        self._stacks_shown = list(files)
        self.query_one("#stacks-view", Static).update(monitor_text.stacks_text(files))
        if files:
            self.query_one("#tabs", TabbedContent).show_tab("stacks")

    def _render_errors(self, errors: dict, failed: dict | None = None) -> None:
        box = self.query_one("#errors", Static)
        shown = (errors.get("first_error_line"), errors.get("first_error_source"),
                 errors.get("last_traceback") or errors.get("traceback"), errors.get("error_count"), failed)
        if shown == self._errors_shown:
            return
        self._errors_shown = shown
        content = monitor_text.errors_box(errors, failed)
        box.display = content is not None
        if content is not None:
            box.update(content)
        # A resume leaves the earlier attempt's errors behind (attempt_marks): the mark goes too.
        self.query_one("#tabs", TabbedContent).get_tab("log").label = "4 Log ⚠" if content is not None else "4 Log"

    def on_log_lines(self, message: LogLines) -> None:
        log = self.query_one("#log-view", RichLog)
        error_style = f"bold {self.app.theme_variables.get('error', 'red')}"
        for stream, line in message.lines:
            style = error_style if self._is_error(line) else ("dim" if stream == "stderr" else "")
            log.write(Text(line, style=style))

    def _is_error(self, line: str) -> bool:
        # A line stands out when the metrics module reported it as (part of) an error or a traceback.
        body = line.strip()
        return bool(body) and any(e in body for e in self.error_lines)

    # -- GPUs ------------------------------------------------------------------

    def _on_inventory(self, inv: Inventory) -> None:
        box = self.query_one("#job-gpus", VerticalScroll)
        if self.record.cpu:
            if not box.children:
                box.mount(Static(f"CPU job: {self.record.nproc_per_node} gloo worker(s); no GPU to show."))
            return
        if box.children and not (screen_visible(self) and self.query_one("#tabs", TabbedContent).active == "gpus"):
            self._behind = self._behind or not screen_visible(self)
            return  # shown when the GPUs tab opens (or the screen shows again)
        gpus = [g for g in inv.gpus if g.index in set(self.record.gpu_ids)]
        rows = list(box.query(GpuRow))
        if len(rows) != len(gpus):
            box.remove_children()
            box.mount_all([GpuRow(g, self._history(g.index)) for g in gpus]
                          or [Static(f"GPUs {self.record.gpu_ids} are not on this machine's inventory.")])
        else:
            for row, g in zip(rows, gpus):
                row.set_gpu(g, self._history(g.index))

    def _history(self, index: int) -> tuple[list[float], list[float]]:
        util, mem = self.app.gpu_history.get(index, ((), ()))
        return list(util), list(mem)

    # -- actions ---------------------------------------------------------------

    def action_tab(self, tab: str) -> None:
        if tab == "stacks" and not self._stacks_shown:
            self.notify("no stack dump yet: the sentinel dumps every rank's stacks when the run stalls", timeout=3)
            return
        self.query_one("#tabs", TabbedContent).active = tab

    def action_smoothing(self) -> None:
        self.smoothing = not self.smoothing
        self._update_charts(now=True)
        self.notify(f"loss smoothing {'on (EMA)' if self.smoothing else 'off (raw)'}", timeout=2)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Stop… only for a job that runs or waits in a queue: a finished one has nothing to stop.
        if action == "stop":
            return (self.snapshot or {}).get("status") in status_words.ACTIVE
        return True

    def _current_record(self) -> Any:
        # The watcher re-reads the registry entry: after a resume the job has a new pid.
        return self.watcher.record if self.watcher is not None else self.record

    def action_stop(self) -> None:
        ask_stop(self, self._current_record(), (self.snapshot or {}).get("status"))

    def action_report(self) -> None:
        start_report(self, self._current_record())

    def on_job_action_done(self, message: JobActionDone) -> None:
        self.notify(message.text, severity="error" if message.error else "information")

    def action_back(self) -> None:
        self.dismiss()

    def screen_commands(self):
        yield SystemCommand("Toggle loss smoothing", "EMA on the loss chart on/off", self.action_smoothing)
        yield SystemCommand("Stop this job", "Stop the monitored job (asks first)", self.action_stop)
        yield SystemCommand("Write report", "This job's reproduction report (report.md + PNG charts)",
                            self.action_report)
        for tab, title in zip(TABS, ("Loss chart", "lr chart", "mAP table and chart", "Log", "GPUs")):
            yield SystemCommand(f"Show {title}", f"Monitor tab: {title}", lambda t=tab: self.action_tab(t))
