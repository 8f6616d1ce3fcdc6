"""Compare runs with each other and with the reference each is watched against.

One table, one column a run (its name over its id, in the order the Jobs screen listed them):
the recipe (devices, lr, total batch), the AP so far ("final" only once the schedule ended,
"latest, ep 3/5" before), the run's one reference at its epoch (launcher.jobs.side_by_side,
as the Monitor and `compare` say it), then mAP per epoch. Row labels and cells kept short so
three runs fit 80 columns whole; more scroll sideways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.format import ap, styled
from tui.styles import use_styles
from tui.threads import run_detached
from tui.widgets.key_bar import KeyBar
from tui.widgets.title_bar import TitleBar

GOOD_GAP = -0.005  # mAP below the reference at the same epoch that still counts as reproduced


@dataclass
class EpochsReady(Message):
    """launcher.jobs.side_by_side.compare_runs: every run's mAP per epoch, lr, batch and reference."""

    result: dict


class CompareScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, jobs: list[tuple[Any, dict]], *, unmarked: bool = False) -> None:
        """``unmarked``: nothing was marked, so JOBS are every finished run (the title says so)."""
        super().__init__()
        use_styles(self, "jobs")
        self.jobs = jobs
        self.unmarked = unmarked

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="compare-box"):
            yield DataTable(id="compare-epochs", cursor_type="row", zebra_stripes=True, header_height=2)
            yield Static("Reading the runs…", id="compare-note")
        yield KeyBar()

    def on_mount(self) -> None:
        count = len(self.jobs)
        self.query_one("#compare-box").border_title = (
            f"Compare all {count} finished run(s): none marked (space marks runs on Jobs)" if self.unmarked
            else f"Compare {count} marked run(s)")
        self._load_epochs()

    @work(exclusive=True, group="epochs", exit_on_error=False)
    async def _load_epochs(self) -> None:
        from launcher.jobs.side_by_side import compare_runs

        self.post_message(EpochsReady(await run_detached(compare_runs, [record for record, _ in self.jobs])))

    def on_epochs_ready(self, message: EpochsReady) -> None:
        """One column a run: the article's experiment (one preset on 8, 4 and 2 GPUs) in one table."""
        from launcher.jobs.side_by_side import against_text, ap_cell, map_at

        runs = message.result["runs"]
        table = self.query_one("#compare-epochs", DataTable)
        table.clear(columns=True)
        table.add_column("", key="what")
        for r in runs:
            table.add_column(Text(f"{r['name']}\n{r['id']}"), key=r["id"])
        # The recipe and the AP so far first: they stay in view however many epochs follow.
        table.add_row("status", *[styled(self.app, r["status"], r["status"]) for r in runs], key="status")
        table.add_row("devices", *[r["devices"] for r in runs], key="devices")
        table.add_row("lr", *["-" if r.get("lr") is None else f"{r['lr']:g}" for r in runs], key="lr")
        table.add_row("batch", *[str(r.get("total_batch") or "-") for r in runs], key="batch")
        table.add_row("mAP", *[ap_cell(r) for r in runs], key="map")
        table.add_row("vs ref", *[self._against(r.get("against"), against_text) for r in runs], key="reference")
        for epoch in message.result["epochs"]:
            table.add_row(f"epoch {epoch}", *[ap(map_at(r, epoch)) for r in runs], key=f"epoch:{epoch}")
        errors = [f"{r['id']}: {r['error']}" for r in runs if r.get("error")]
        targets = self._targets(runs)
        note = (f"vs ref: the reference run at the same epoch (green: within {-100 * GOOD_GAP:g} AP)"
                + (f"; else a target: {targets}" if targets else "") + ("\n" + "; ".join(errors) if errors else ""))
        self.query_one("#compare-note", Static).update(note)

    def _targets(self, runs: list[dict]) -> str:
        """Whose AP a target is and where it was measured ("r50-fpn-1x's model-zoo AP on 8 x V100");
        "" when every run has a reference run."""
        presets = sorted({r["preset"] for r in runs if (r.get("against") or {}).get("name", "") is None})
        said = []
        for name in presets:
            preset = self.app.catalog.presets.get(name)
            hardware = (preset.reference_env.get("hardware") if preset else None) or "unknown hardware"
            said.append(f"{name}'s model-zoo AP on {hardware}")
        return "; ".join(said)

    def _against(self, against: dict | None, text_of) -> Text | str:
        text = text_of(against)
        if not against or against.get("delta") is None:
            return text
        return styled(self.app, text, "pass" if against["delta"] >= GOOD_GAP else "warn")

    def action_back(self) -> None:
        self.dismiss()
