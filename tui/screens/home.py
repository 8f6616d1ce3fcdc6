"""Home: the GPUs of this machine (live) and the presets to start from; above them, while `make run`
sets up the training stack in the background, how far it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.widgets.key_bar import KeyBar
from tui.widgets.gpu_panel import GpuPanel
from tui.widgets.setup_line import SetupLine
from tui.widgets.title_bar import TitleBar

if TYPE_CHECKING:
    from launcher.hardware.gpu_probe import Inventory
    from launcher.planning.presets import Preset


CPU_PRESET = "demo-cpu"  # what to start with on a machine without a GPU
GPU_PRESET = "r50-fpn-1x"  # the canonical recipe, when there are GPUs

HEADINGS = ("name", "lr @ batch", "epochs", "ref AP", "description")


def preset_rows(presets: dict[str, Preset]) -> tuple[Content, list[Option]]:
    """The presets table: a heading line and one option per preset (its id the preset's
    name), in columns as wide as their longest entry; the description takes what is left
    of the line (the list cuts it with an ellipsis).

    An OptionList of one-line rows, not a DataTable: DataTable renders every cell through
    Rich and styles it on its own, which was a third of what the Home screen's first frame
    cost above a Textual hello-world (bench/findings.md "startup-first-frame"); a row here
    is one Content line.
    """
    rows = []
    for name, p in sorted(presets.items()):
        ref = "-" if p.reference_ap is None else f"{p.reference_ap:.1f}"
        rows.append((name, f"{p.base_lr:g} @ {p.base_batch_size}", str(p.effective_epochs), ref, p.description))
    # Terminal cells, not characters: a user's preset may be named in any script.
    widths = [max(cell_len(cells[i]) for cells in (HEADINGS, *rows)) for i in range(len(HEADINGS) - 1)]

    def line(cells: tuple[str, ...]) -> Content:
        return Content("  ".join([*(c + " " * (w - cell_len(c)) for c, w in zip(cells, widths)), cells[-1]]))

    return line(HEADINGS), [Option(line(cells), id=cells[0]) for cells in rows]


class PresetList(OptionList):
    """The presets. A click on a preset highlights it (its details show below the list) and
    a click on the highlighted one opens its plan, as in a DataTable; OptionList would open
    the plan of whichever preset the first click landed on."""

    async def _on_click(self, event: events.Click) -> None:
        clicked = event.style.meta.get("option")
        if clicked is not None and clicked != self.highlighted:
            self.highlighted = clicked
            event.prevent_default()  # OptionList's own click handler would select it too


class HomeScreen(Screen):
    BINDINGS = [
        Binding("p", "plan", "Plan preset", tooltip="Open the plan for the highlighted preset"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._preselected = False

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield SetupLine(id="setup-line")  # the training stack's background set-up, while there is one
        yield GpuPanel(id="gpu-panel")
        heading, options = preset_rows(self.app.catalog.presets)
        with Vertical(id="presets-box"):
            yield Static(heading, id="presets-heading")
            yield PresetList(*options, id="presets", compact=True)
            yield Static(id="preset-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#presets-box").border_title = "Presets (enter: plan)"
        self.query_one("#presets", OptionList).focus()
        self.app.inventory_changed.subscribe(self, self._on_inventory)
        if self.app.inventory is not None:
            self._on_inventory(self.app.inventory)

    def on_screen_resume(self) -> None:
        for panel in self.query(GpuPanel):  # none before the first compose
            panel.catch_up()

    def _on_inventory(self, inv: Inventory) -> None:
        if self._preselected:
            return
        self._preselected = True
        self.select_preset(GPU_PRESET if inv.gpus else CPU_PRESET)

    def select_preset(self, name: str) -> None:
        presets = self.query_one("#presets", OptionList)
        try:
            presets.highlighted = presets.get_option_index(name)
        except Exception:  # that preset is not installed: leave the highlight where it is
            return

    @property
    def highlighted_preset(self) -> str | None:
        presets = self.query_one("#presets", OptionList)
        option = presets.highlighted_option
        return None if option is None else option.id

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        preset = self.app.catalog.presets.get(event.option_id or "")
        if preset is None:
            return
        warmup = f", warmup {preset.warmup_iters} iters" if preset.warmup_iters else ""
        self.query_one("#preset-detail", Static).update(Content.from_markup(
            "[b]$name[/]: $desc\n[dim]$config · $opt lr $lr @ batch $batch ($imgs img/GPU) · "
            "$epochs epochs, $decay$warmup[/]",
            name=preset.name, desc=preset.description, config=preset.config, opt=preset.optimizer.upper(),
            lr=f"{preset.base_lr:g}", batch=str(preset.base_batch_size), imgs=str(preset.imgs_per_gpu),
            epochs=str(preset.effective_epochs), decay=preset.decay_text, warmup=warmup))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_id:
            self.app.open_plan(event.option_id)

    def action_plan(self) -> None:
        name = self.highlighted_preset
        if name:
            self.app.open_plan(name)
