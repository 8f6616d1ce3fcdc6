"""Monitor: one job's loss (total and components), lr, mAP per epoch against the preset's
reference, progress and ETA, its GPUs, and its logs with errors standing out.

A JobWatcher thread (tui.watcher) reads the work dir and posts MetricsUpdated /
LogLines; this screen only renders them. Leaving it never touches the job.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import (DataTable, Footer, Header, ProgressBar, RichLog, Static, TabbedContent,
                             TabPane)
from rich.text import Text

from launcher import registry
from launcher.gpu_probe import Inventory
from tui.format import ago, ap, duration, number, status_markup, styled
from tui.job_actions import ask_stop
from tui.messages import JobActionDone, LogLines, MetricsUpdated
from tui.watcher import JobWatcher
from tui.widgets.charts import LossChart, LrChart, MapChart
from tui.widgets.gpu_panel import GpuRow

MAP_COLUMNS = (("mAP", "bbox_mAP"), ("AP50", "bbox_mAP_50"), ("AP75", "bbox_mAP_75"), ("APs", "bbox_mAP_s"),
               ("APm", "bbox_mAP_m"), ("APl", "bbox_mAP_l"))
TABS = ("loss", "lr", "map", "log", "gpus")


class MonitorScreen(Screen):
    BINDINGS = [
        Binding("1", "tab('loss')", "Loss", show=False),
        Binding("2", "tab('lr')", "lr", show=False),
        Binding("3", "tab('map')", "mAP", show=False),
        Binding("4", "tab('log')", "Log", show=False),
        Binding("5", "tab('gpus')", "GPUs", show=False),
        Binding("s", "smoothing", "Smoothing"),
        Binding("x", "stop", "Stop…"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, record: Any) -> None:
        super().__init__()
        self.record = record
        self.snapshot: dict | None = None
        self.smoothing = True
        self.error_lines: set[str] = set()
        self.watcher: JobWatcher | None = None
        self._map_shown: tuple[list, int | None] = ([], None)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="banner")
        yield Static(id="job-summary")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=100, show_eta=False, id="progress")
            yield Static(id="eta")
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
                    yield MapChart(id="map-chart")
            with TabPane("4 Log", id="log"):
                yield Static(id="errors")
                yield RichLog(id="log-view", max_lines=5000, wrap=False, markup=False, highlight=False)
            with TabPane("5 GPUs", id="gpus"):
                yield VerticalScroll(id="job-gpus")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self.query_one("#errors").display = False
        table = self.query_one("#map-table", DataTable)
        table.add_column("epoch", key="epoch")
        for label, key in MAP_COLUMNS:
            table.add_column(label, key=key)
        self._render_summary()
        self.query_one(LossChart).show({}, self.smoothing)
        self.query_one(LrChart).show({})
        self.query_one(MapChart).show([], self.record.reference_ap)
        self.app.inventory_changed.subscribe(self, self._on_inventory)
        if self.app.inventory is not None:
            self._on_inventory(self.app.inventory)
        preset = self.app.catalog.presets.get(self.record.preset)
        self.watcher = JobWatcher(self.record, self, interval=self.app.watch_interval, clock=self.app.clock,
                                  warmup_iters=preset.warmup_iters if preset else 500)
        self.watcher.start()

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    # -- rendering the snapshot -----------------------------------------------

    def on_metrics_updated(self, message: MetricsUpdated) -> None:
        snap = self.snapshot = message.snapshot
        errors = snap.get("errors") or {}
        for key in ("traceback", "last_traceback"):
            if errors.get(key):
                self.error_lines.update(line.strip() for line in errors[key].splitlines() if len(line.strip()) > 3)
        for key in ("first_error_line", "last_error_line"):
            if errors.get(key):
                self.error_lines.add(errors[key].strip())
        self._render_summary()
        self._render_banner(snap)
        series = snap.get("series") or {}
        self.query_one(LossChart).show(series, self.smoothing)
        self.query_one(LrChart).show(series)
        self._render_map(snap)
        self._render_errors(errors)

    def _render_summary(self) -> None:
        r, snap = self.record, self.snapshot or {}
        status = snap.get("status") or "…"
        devices = f"CPU × {r.nproc_per_node} gloo" if r.cpu else "GPU " + ",".join(map(str, r.gpu_ids))
        nodes = f" × {r.nodes} nodes" if r.nodes > 1 else ""
        name = f" ({r.name})" if r.name != r.preset else ""
        line1 = Content.from_markup(
            "[b]$id[/]$name · $preset · ", id=r.id, name=name, preset=r.preset,
        ) + Content.from_markup(status_markup(status)) + Content.from_markup(
            " · $dev$nodes · $ago", dev=devices, nodes=nodes, ago=ago(r.started_at, self.app.clock()))
        prog = snap.get("progress") or {}
        bits = []
        if prog.get("epoch") is not None:
            bits.append(f"epoch {prog['epoch']}/{prog.get('max_epochs') or '?'}")
        if prog.get("iter_in_epoch") is not None and prog.get("iters_per_epoch"):
            bits.append(f"iter {prog['iter_in_epoch']}/{prog['iters_per_epoch']}")
        latest = snap.get("latest") or {}
        if "loss" in latest:
            bits.append(f"loss {number(latest['loss'])}")
        if "lr" in latest:
            bits.append(f"lr {number(latest['lr'])}")
        best = snap.get("best")
        if best:
            ref = best.get("reference_ap")
            gap = best.get("gap_to_reference")
            bits.append(f"best mAP {best['percent']:.1f} (ep {best['epoch']})"
                        + (f" vs ref {ref:g} ({gap:+.1f})" if ref and gap is not None else ""))
        elif r.reference_ap:
            bits.append(f"ref AP {r.reference_ap:g}")
        if snap.get("catching_up"):
            bits.append("reading history…")
        line2 = Content(" · ".join(bits) or "waiting for the first log line…")
        self.query_one("#job-summary", Static).update(Content("\n").join([line1, line2]))
        fraction = prog.get("fraction")
        self.query_one("#progress", ProgressBar).update(progress=100 * (fraction or 0))
        eta = snap.get("eta_s")
        eta_text = "done" if snap.get("eta_source") == "finished" else (
            f"ETA {duration(eta)}" if eta is not None else "ETA ?")
        idle = snap.get("idle_s")
        if status == registry.RUNNING and idle is not None and idle > 300:
            eta_text += f" · [bold $warning]no log for {duration(idle)}[/]"
        self.query_one("#eta", Static).update(Content.from_markup(eta_text))

    def _render_banner(self, snap: dict) -> None:
        banner = self.query_one("#banner", Static)
        alerts = [a for a in snap.get("alerts") or [] if a.get("kind") in ("nonfinite_loss", "divergence")]
        if not alerts:
            banner.display = False
            return
        nonfinite = [a for a in alerts if a["kind"] == "nonfinite_loss"]
        alert = nonfinite[0] if nonfinite else alerts[-1]
        title = "NaN / inf loss" if alert["kind"] == "nonfinite_loss" else "Loss diverging"
        more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
        banner.update(Content.from_markup("[b]⚠ $t:[/] $m$more", t=title, m=alert["message"], more=more))
        banner.display = True

    def _render_map(self, snap: dict) -> None:
        rows = snap.get("map_by_epoch") or []
        table = self.query_one("#map-table", DataTable)
        best = snap.get("best") or {}
        if (rows, best.get("epoch")) != self._map_shown:  # unchanged: keep the user's cursor where it is
            self._map_shown = (rows, best.get("epoch"))
            table.clear()
            for row in rows:
                is_best = row["epoch"] == best.get("epoch")
                cells = [styled(self.app, ap(row.get(key)), "pass", bold=True) if is_best and key == "bbox_mAP"
                         else ap(row.get(key)) for _, key in MAP_COLUMNS]
                table.add_row(str(row["epoch"]), *cells, key=str(row["epoch"]))
        ref = self.record.reference_ap
        if best:
            gap = best.get("gap_to_reference")
            text = f"best {best['percent']:.1f} at epoch {best['epoch']}"
            if ref:
                status = "pass" if gap is not None and gap >= -0.5 else "warn"
                text += f"\nreference {ref:g}: " + status_markup(status, f"{gap:+.1f}")
            self.query_one("#best", Static).update(Content.from_markup(text))
        else:
            self.query_one("#best", Static).update(f"reference {ref:g}" if ref else "")
        self.query_one(MapChart).show(rows, ref, best.get("metric") or "bbox_mAP")

    def _render_errors(self, errors: dict) -> None:
        box = self.query_one("#errors", Static)
        tb = errors.get("last_traceback") or errors.get("traceback")
        first = errors.get("first_error_line")
        if not tb and not first:
            box.display = False
            return
        parts = []
        if first:
            parts.append(Content.from_markup("[b]first error[/] ($src): $l", src=errors.get("first_error_source") or "?",
                                             l=first))
        if tb:
            tail = tb.splitlines()[-1]
            parts.append(Content.from_markup("[b]traceback[/] ends: $l", l=tail))
        count = errors.get("error_count") or 0
        if count > 1:
            parts.append(Content(f"{count} error lines in all; they are highlighted below"))
        box.update(Content("\n").join(parts))
        box.display = True
        self.query_one("#tabs", TabbedContent).get_tab("log").label = "4 Log ⚠"

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
        self.query_one("#tabs", TabbedContent).active = tab

    def action_smoothing(self) -> None:
        self.smoothing = not self.smoothing
        self.query_one(LossChart).show((self.snapshot or {}).get("series") or {}, self.smoothing)
        self.notify(f"loss smoothing {'on (EMA)' if self.smoothing else 'off (raw)'}", timeout=2)

    def action_stop(self) -> None:
        # The watcher re-reads the registry entry: after a resume the job has a new pid.
        record = self.watcher.record if self.watcher is not None else self.record
        ask_stop(self, record, (self.snapshot or {}).get("status"))

    def on_job_action_done(self, message: JobActionDone) -> None:
        self.notify(message.text, severity="error" if message.error else "information")

    def action_back(self) -> None:
        self.dismiss()

    def screen_commands(self):
        yield SystemCommand("Toggle loss smoothing", "EMA on the loss chart on/off", self.action_smoothing)
        yield SystemCommand("Stop this job", "Stop the monitored job (asks first)", self.action_stop)
        for tab, title in zip(TABS, ("Loss chart", "lr chart", "mAP table and chart", "Log", "GPUs")):
            yield SystemCommand(f"Show {title}", f"Monitor tab: {title}", lambda t=tab: self.action_tab(t))
