"""The GPU panel: one row per GPU (memory and utilisation with sparklines, processes, free or not)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from tui.format import gib, spark
from tui.visibility import screen_visible

if TYPE_CHECKING:
    from launcher.hardware.gpu_probe import GPUInfo, Inventory

FIXED = 66  # columns used by everything but the two sparklines


def short_name(name: str | None) -> str:
    return (name or "unknown").removeprefix("NVIDIA ")


def no_gpu_text(inv: Inventory) -> str:
    return f"No GPU found: {inv.error or 'NVML lists none'}. Training runs on CPU with gloo workers."


class GpuRow(Widget):
    """One GPU: renders from its GPUInfo and the app's util/memory history; recomputed on resize."""

    DEFAULT_CSS = "GpuRow { height: auto; }"

    def __init__(self, gpu: GPUInfo, history: tuple[list[float], list[float]]) -> None:
        super().__init__(classes="gpu-row")
        self.gpu, self.history = gpu, history

    def set_gpu(self, gpu: GPUInfo, history: tuple[list[float], list[float]]) -> None:
        self.gpu, self.history = gpu, history
        self.refresh(layout=True)

    def render(self) -> Content:
        g = self.gpu
        name = short_name(g.name)[:16]
        if g.error:
            return Content.from_markup(f"[b]{g.index}[/] {name:<16} [bold $error]lost: $err[/]", err=g.error)
        width = max(4, min(40, (self.size.width - FIXED) // 2)) if self.size.width else 8
        util_hist, mem_hist = self.history
        mem = f"{gib(g.memory_used_mib)}/{gib(g.memory_total_mib)}"
        util = "?" if g.utilization_pct is None else f"{g.utilization_pct}%"
        temp = "   ?" if g.temperature_c is None else f"{g.temperature_c:>3}C"
        mem_pct = 100.0 * (g.memory_used_mib or 0) / g.memory_total_mib if g.memory_total_mib else 0.0
        mem_style = "$error" if mem_pct >= 90 else "$warning" if mem_pct >= 50 else "$success"
        if g.processes is None:
            state = "[$warning]unknown[/]"
        elif not g.processes:
            state = "[bold $success]free[/]"
        else:
            state = f"[bold $warning]busy ({len(g.processes)})[/]"
        line = Content.from_markup(
            f"[b]{g.index}[/] {name:<16} mem {mem:>11} [{mem_style}]$mspark[/] "
            f"util {util:>4} [$accent]$uspark[/] {temp}  {state}",
            mspark=spark(list(mem_hist), 100, width), uspark=spark(list(util_hist), 100, width))
        lines = [line]
        for p in g.processes or []:
            who = " ".join(x for x in (p.user, p.command) if x)
            lines.append(Content.from_markup(
                "    [$warning]pid $pid[/] $mem $who", pid=str(p.pid),
                mem=gib(p.used_memory_mib), who=who[: max(10, self.size.width - 30)]))
        return Content("\n").join(lines)


class GpuPanel(VerticalScroll):
    """Renders the app's latest inventory; subscribes to `app.inventory_changed`.

    While its screen is covered (another mode, or a screen pushed on top) it only notes
    that it is behind; its screen calls `catch_up` when it shows again.
    """

    can_focus = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._behind = False
        self._no_gpu_text: str | None = None  # what the message says, when there is no GPU

    def compose(self) -> ComposeResult:
        yield Static("Probing GPUs…", id="gpu-message")

    def on_mount(self) -> None:
        self.border_title = "GPUs"
        self.app.inventory_changed.subscribe(self, self._on_inventory)
        if self.app.inventory is not None:
            self.show_inventory(self.app.inventory)

    def _on_inventory(self, inv: Inventory) -> None:
        if screen_visible(self.screen):
            self.show_inventory(inv)
        else:
            self._behind = True

    def catch_up(self) -> None:
        """Show the latest inventory if one came while the screen was covered."""
        if self._behind and self.app.inventory is not None:
            self.show_inventory(self.app.inventory)

    def _history(self, index: int) -> tuple[list[float], list[float]]:
        util, mem = self.app.gpu_history.get(index, ((), ()))
        return list(util), list(mem)

    def show_inventory(self, inv: Inventory) -> None:
        self._behind = False
        message = self.query_one("#gpu-message", Static)
        rows = list(self.query(GpuRow))
        if not inv.gpus:
            text = no_gpu_text(inv)
            if text == self._no_gpu_text and not rows:
                return  # the same words as two seconds ago: nothing to redraw
            self._no_gpu_text = text
            message.update(text)
            message.set_class(True, "no-gpu")
            message.display = True
            for row in rows:
                row.remove()
            self.border_subtitle = "CPU only"
            return
        self._no_gpu_text = None
        message.display = False
        if len(rows) != len(inv.gpus):
            for row in rows:
                row.remove()
            self.mount_all([GpuRow(g, self._history(g.index)) for g in inv.gpus])
        else:
            for row, g in zip(rows, inv.gpus):
                row.set_gpu(g, self._history(g.index))
        free = [str(g.index) for g in inv.gpus if g.is_free]
        parts = [f"driver {inv.driver_version}" if inv.driver_version else "",
                 f"CUDA {inv.cuda_driver_version}" if inv.cuda_driver_version else "",
                 f"{len(free)}/{len(inv.gpus)} free" + (f": {','.join(free)}" if 0 < len(free) < len(inv.gpus) else "")]
        self.border_subtitle = " · ".join(p for p in parts if p)
