"""Home: the GPUs of this machine (live) and the presets to start from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.widgets.footer import KeysFooter
from tui.widgets.gpu_panel import GpuPanel
from tui.widgets.tables import fill_width
from tui.widgets.title_bar import TitleBar

if TYPE_CHECKING:
    from launcher.hardware.gpu_probe import Inventory


def plain(text: str) -> Text:
    """A DataTable cell shown as it is (what the table makes of a str, less the markup)."""
    return Text(text, end="")


CPU_PRESET = "demo-cpu"  # what to start with on a machine without a GPU
GPU_PRESET = "r50-fpn-1x"  # the canonical recipe, when there are GPUs


class HomeScreen(Screen):
    BINDINGS = [
        Binding("p", "plan", "Plan preset", tooltip="Open the plan for the highlighted preset"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._preselected = False

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield GpuPanel(id="gpu-panel")
        with Vertical(id="presets-box"):
            yield DataTable(id="presets", cursor_type="row")
            yield Static(id="preset-detail")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#presets-box").border_title = "Presets (enter: plan)"
        table = self.query_one("#presets", DataTable)
        # Text, not str: a str cell is parsed as Rich markup (and first loads Rich's emoji
        # table), which costs the first frame several ms; preset fields are plain text.
        table.add_columns(*map(plain, ("name", "lr @ batch", "epochs", "ref AP")))
        table.add_column(plain("description"), key="description")
        for name, p in sorted(self.app.catalog.presets.items()):
            ref = "-" if p.reference_ap is None else f"{p.reference_ap:.1f}"
            table.add_row(*map(plain, (name, f"{p.base_lr:g} @ {p.base_batch_size}", str(p.effective_epochs), ref,
                                      p.description)), key=name)
        table.focus()
        self.app.inventory_changed.subscribe(self, self._on_inventory)
        if self.app.inventory is not None:
            self._on_inventory(self.app.inventory)

    def on_screen_resume(self) -> None:
        for panel in self.query(GpuPanel):  # none before the first compose
            panel.catch_up()

    def on_resize(self) -> None:
        fill_width(self.query_one("#presets", DataTable), "description")

    def _on_inventory(self, inv: Inventory) -> None:
        if self._preselected:
            return
        self._preselected = True
        self.select_preset(GPU_PRESET if inv.gpus else CPU_PRESET)

    def select_preset(self, name: str) -> None:
        table = self.query_one("#presets", DataTable)
        try:
            table.move_cursor(row=table.get_row_index(name))
        except Exception:  # that preset is not installed: leave the cursor where it is
            return

    @property
    def highlighted_preset(self) -> str | None:
        table = self.query_one("#presets", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        preset = self.app.catalog.presets.get(event.row_key.value)
        if preset is None:
            return
        warmup = f", warmup {preset.warmup_iters} iters" if preset.warmup_iters else ""
        self.query_one("#preset-detail", Static).update(Content.from_markup(
            "[b]$name[/]: $desc\n[dim]$config · $opt lr $lr @ batch $batch ($imgs img/GPU) · "
            "$epochs epochs, $decay$warmup[/]",
            name=preset.name, desc=preset.description, config=preset.config, opt=preset.optimizer.upper(),
            lr=f"{preset.base_lr:g}", batch=str(preset.base_batch_size), imgs=str(preset.imgs_per_gpu),
            epochs=str(preset.effective_epochs), decay=preset.decay_text, warmup=warmup))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_plan(event.row_key.value)

    def action_plan(self) -> None:
        name = self.highlighted_preset
        if name:
            self.app.open_plan(name)
