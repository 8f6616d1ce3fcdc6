"""Compare runs with each other and with the preset's reference (model zoo box AP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from launcher.errors import UserError
from launcher.planning.plan import read_saved_plan
from tui.format import ap, styled
from tui.styles import use_styles
from tui.threads import run_detached
from tui.watcher import read_snapshot
from tui.widgets.key_bar import KeyBar
from tui.widgets.title_bar import TitleBar

GOOD_GAP = -0.5  # points of AP below the reference that still count as reproduced


@dataclass
class ComparisonReady(Message):
    rows: list[dict]


@dataclass
class EpochsReady(Message):
    """launcher.jobs.comparison.compare_runs: every run's mAP per epoch, lr and total batch."""

    result: dict


def comparison_row(record: Any, row: dict) -> dict:
    snap = read_snapshot(record)
    maps = [m for m in snap.get("map_by_epoch") or [] if m.get("bbox_mAP") is not None]
    result = {"record": record, "status": row["status"], "devices": row["devices"], "best": snap.get("best"),
              "final": maps[-1] if maps else None, "epochs": len(maps)}
    try:
        plan = read_saved_plan(record.run_path)  # checked: lr and batch are numbers or absent
    except UserError as exc:
        plan = {}
        if (record.run_path / "plan.json").exists():  # a run without one just has no lr column
            # The note already leads with the run's id: its run dir's absolute path would only
            # push the reason past the line's end (and wrap it mid-phrase on a narrow terminal).
            result["error"] = str(exc).replace(f"{record.run_path}/", "")
    result.update(lr=plan.get("lr"), batch=plan.get("total_batch"))
    return result


def comparison_rows(jobs: list[tuple[Any, dict]]) -> list[dict]:
    rows = []
    for record, row in jobs:
        try:
            rows.append(comparison_row(record, row))
        except Exception as exc:  # an unreadable run still gets its line
            rows.append({"record": record, "status": row["status"], "devices": row["devices"],
                         "error": f"{type(exc).__name__}: {exc}"})
    return rows


class CompareScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, jobs: list[tuple[Any, dict]]) -> None:
        super().__init__()
        use_styles(self, "jobs")
        self.jobs = jobs

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="compare-box"):
            yield DataTable(id="compare", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="compare-epochs", cursor_type="row", zebra_stripes=True)
            yield Static("Reading the runs…", id="compare-note")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#compare-box").border_title = f"Compare {len(self.jobs)} run(s) with the reference"
        table = self.query_one("#compare", DataTable)
        for col in ("run", "preset", "best mAP", "ref", "best − ref", "final", "evals", "batch", "lr", "devices",
                    "status"):
            table.add_column(col, key=col)
        self._load()
        self._load_epochs()

    @work(exclusive=True, exit_on_error=False)
    async def _load(self) -> None:
        self.post_message(ComparisonReady(await run_detached(comparison_rows, self.jobs)))

    def on_comparison_ready(self, message: ComparisonReady) -> None:
        table = self.query_one("#compare", DataTable)
        table.clear()
        by_preset: dict[str, list[dict]] = {}
        for r in message.rows:
            by_preset.setdefault(r["record"].preset, []).append(r)
        for preset, rows in sorted(by_preset.items()):
            ref = next((r["record"].reference_ap for r in rows if r["record"].reference_ap), None)
            rows.sort(key=lambda r: -((r.get("best") or {}).get("value") or -1))
            for r in rows:
                rec, best, final = r["record"], r.get("best") or {}, r.get("final") or {}
                gap = best.get("gap_to_reference")
                gap_cell = "-" if gap is None else styled(self.app, f"{gap:+.1f}", "pass" if gap >= GOOD_GAP else "warn")
                table.add_row(rec.id, preset, f"{ap(best.get('value'))} (ep {best['epoch']})" if best else "-",
                              f"{ref:g}" if ref else "-", gap_cell, ap(final.get("bbox_mAP")),
                              str(r.get("epochs", "-")), str(r.get("batch") or "-"),
                              f"{r['lr']:g}" if r.get("lr") else "-", r["devices"],
                              styled(self.app, r["status"], r["status"]), key=rec.id)
            if ref:
                zoo = self.app.catalog.presets.get(preset)
                hardware = (zoo.reference_env.get("hardware") if zoo else None) or "model zoo"
                table.add_row(styled(self.app, "reference", "", bold=True), preset, f"{ref:g}", f"{ref:g}", "",
                              "", "", "", "", hardware, "", key=f"ref:{preset}")
        errors = [f"{r['record'].id}: {r['error']}" for r in message.rows if r.get("error")]
        note = (f"within {-GOOD_GAP:g} AP of the reference counts as reproduced (green)"
                + ("\n" + "; ".join(errors) if errors else ""))
        self.query_one("#compare-note", Static).update(note)

    @work(exclusive=True, group="epochs", exit_on_error=False)
    async def _load_epochs(self) -> None:
        from launcher.jobs.comparison import compare_runs

        self.post_message(EpochsReady(await run_detached(compare_runs, [record for record, _ in self.jobs])))

    def on_epochs_ready(self, message: EpochsReady) -> None:
        """mAP per epoch side by side (one column a run), then final AP, lr and total batch:
        the article's experiment (one preset on 8, 4 and 2 GPUs) in one table."""
        from launcher.jobs.comparison import map_at

        runs = message.result["runs"]
        table = self.query_one("#compare-epochs", DataTable)
        table.clear(columns=True)
        table.add_column("", key="what")
        for r in runs:
            table.add_column(r["id"], key=r["id"])
        # The recipe and the final AP first: they stay in view however many epochs follow.
        table.add_row("devices", *[r["devices"] for r in runs], key="devices")
        table.add_row("lr", *["-" if r.get("lr") is None else f"{r['lr']:g}" for r in runs], key="lr")
        table.add_row("total batch", *[str(r.get("total_batch") or "-") for r in runs], key="batch")
        table.add_row("final AP", *[ap((r.get("final") or {}).get("bbox_mAP")) for r in runs], key="final")
        for epoch in message.result["epochs"]:
            table.add_row(f"epoch {epoch}", *[ap(map_at(r, epoch)) for r in runs], key=f"epoch:{epoch}")

    def action_back(self) -> None:
        self.dismiss()
