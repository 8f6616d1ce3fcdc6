"""Where a plan runs: some of the probed GPUs (space toggles), or CPU gloo workers.

With no GPU found only the CPU is offered; with GPUs, a checkbox switches to CPU workers.
The picker fills the device part of a PlanRequest; what that means (ids, processes per
node, the lr) is the core's business (launcher.planning.preview).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Checkbox, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from launcher.hardware.gpu_probe import Inventory
from launcher.planning.request import PlanRequest
from tui.form import whole_number
from tui.format import gib
from tui.widgets.gpu_panel import no_gpu_text, short_name
from tui.widgets.marked_toggles import MarkedCheckbox, MarkedSelectionList


class DevicePicker(Vertical):
    def __init__(self, default_workers: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.default_workers = default_workers
        self.inventory: Inventory | None = None

    def compose(self) -> ComposeResult:
        yield Static("Probing GPUs…", id="devices-message")
        # Marked: on and off differ in text (X or blank), not by colour alone (NO_COLOR, monochrome SSH).
        yield MarkedCheckbox("CPU (gloo workers)", id="use-cpu", compact=True)
        yield MarkedSelectionList[int](id="gpu-select", compact=True)
        with Horizontal(id="cpu-row"):
            yield Label("gloo workers ")
            yield Input(str(self.default_workers), id="nproc", type="integer", compact=True)

    def on_mount(self) -> None:
        self.border_title = "Devices"
        for widget_id in ("#cpu-row", "#gpu-select", "#use-cpu"):
            self.query_one(widget_id).display = False

    @property
    def cpu(self) -> bool | None:
        """None until the inventory is known."""
        if self.inventory is None:
            return None
        return not self.inventory.gpus or self.query_one("#use-cpu", Checkbox).value

    def show_inventory(self, inv: Inventory) -> None:
        self.inventory = inv
        message = self.query_one("#devices-message", Static)
        if not inv.gpus:
            message.update(no_gpu_text(inv))
            message.add_class("no-gpu")
        else:
            message.display = False
            free = [g.index for g in inv.gpus if g.is_free]
            chosen = set(free or [g.index for g in inv.gpus if not g.error])
            gpu_select = self.query_one("#gpu-select", SelectionList)
            gpu_select.add_options([Selection(self._gpu_label(g), g.index, g.index in chosen, disabled=bool(g.error))
                                    for g in inv.gpus])
            gpu_select.highlighted = 0
            self.query_one("#use-cpu").display = True
        self._show_choice()
        (self.query_one("#nproc", Input) if self.cpu else self.query_one("#gpu-select")).focus()

    @staticmethod
    def _gpu_label(g) -> Content:
        if g.error:
            return Content.from_markup(f"{g.index} {short_name(g.name)} [$error]lost[/]")
        if g.is_free:
            return Content.from_markup(f"{g.index} {short_name(g.name)} [$success]free[/] {gib(g.memory_free_mib)}")
        pids = ",".join(str(p.pid) for p in g.processes or []) or "?"
        return Content.from_markup(f"{g.index} {short_name(g.name)} [$warning]busy[/] pid {pids}")

    def _show_choice(self) -> None:
        cpu = bool(self.cpu)
        self.query_one("#cpu-row").display = cpu
        gpu_select = self.query_one("#gpu-select", SelectionList)
        gpu_select.display = not cpu
        self.border_title = "CPU" if cpu else "GPUs (space toggles)"

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._show_choice()  # the event bubbles on: the screen re-plans

    def selected_gpus(self) -> list[int]:
        return sorted(self.query_one("#gpu-select", SelectionList).selected)

    def fill(self, req: PlanRequest) -> None:
        """The device part of REQ; ValueError (one line) when the choice cannot be planned."""
        if self.cpu:
            req.cpu = True
            req.nproc = whole_number(self.query_one("#nproc", Input).value, "gloo workers", self.default_workers, 1)
        else:
            req.gpu_ids = self.selected_gpus()
            if not req.gpu_ids:
                raise ValueError("select at least one GPU (space toggles)")
