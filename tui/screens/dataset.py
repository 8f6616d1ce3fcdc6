"""Dataset: what the plan's own data holds, opened from the Plan screen (ctrl+d) when the data field names
an export of your own (a Roboflow or annotations/ folder, planned as --data).

The same report as `frcnn-tui data check` (launcher/data/report_text.py: the splits, the classes with ids and
instances, every problem with its level and fix) and the boxes of a few val images, drawn by the code of
`frcnn-tui data preview` (launcher/data/preview.py, in the training interpreter) and shown in the terminal
(tui/widgets/terminal_image.py). Both run in detached threads (tui/threads.py), so the screen answers at once
and escape never waits for them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static

from launcher import paths
from launcher.data.layout import DataLayout
from launcher.errors import UserError
from tui.styles import use_styles
from tui.threads import run_detached
from tui.widgets.key_bar import KeyBar
from tui.widgets.title_bar import TitleBar
from tui.wording import tui_words

PREVIEW_SPLIT = "val"  # the boxes that are scored: where a wrong category list shows first
PREVIEW_IMAGES = 9  # a 3 x 3 grid: each image still big enough to read its boxes in a terminal


def preview_dir(layout: DataLayout) -> Path:
    """The cache folder of LAYOUT's preview PNG: one per dataset, redrawn on every open (the data may change)."""
    key = hashlib.sha256(str(layout.splits()[PREVIEW_SPLIT].ann_file).encode()).hexdigest()[:16]
    return paths.ensure_private_dir(paths.cache_dir() / "data-preview" / key)


def report_content(report) -> Content:
    """The check's report with each problem's level in its colour."""
    from launcher.data.report_text import report_lines

    content = Content("\n".join(report_lines(report)))
    for level, style in (("FAIL", "bold $error"), ("WARN", "bold $warning"), ("fix:", "bold $warning"),
                         ("status: fail", "bold $error"), ("status: warn", "bold $warning"),
                         ("status: pass", "bold $success")):
        content = content.highlight_regex(rf"(?m)^\s*{level}", style=style)
    return content


def _draw(layout: DataLayout) -> dict:
    from launcher.data.preview import draw, prepare

    chosen = prepare(layout, PREVIEW_SPLIT, PREVIEW_IMAGES)
    return draw(chosen, PREVIEW_SPLIT, PREVIEW_IMAGES, preview_dir(layout))


class DatasetScreen(Screen):
    BINDINGS = [Binding("escape,q", "back", "Back")]

    def __init__(self, data: str) -> None:
        super().__init__()
        use_styles(self, "dataset")
        self.data = data
        self.report = None  # the coco_check.DataReport, once checked
        self.drawn: dict | None = None  # data preview's answer, once drawn

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static(Content.from_markup("[b]Dataset[/] $data", data=self.data), id="dataset-title")
        with VerticalScroll(id="dataset-body"):
            yield Static(Content.from_markup("[dim]checking the annotation files and images…[/]"), id="dataset-report")
            yield Static(Content.from_markup("[dim]drawing the boxes of a few $split images…[/]",
                                             split=PREVIEW_SPLIT), id="dataset-preview-note")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#dataset-body").focus()  # arrows and page keys scroll at once
        self._check_and_draw()

    def _say(self, widget_id: str, text: str) -> None:
        self.query_one(f"#{widget_id}", Static).update(
            Content.from_markup("[bold $error]$e[/]", e=tui_words(text)))

    @work(exclusive=True, group="dataset", exit_on_error=False)
    async def _check_and_draw(self) -> None:
        from launcher.data.coco_check import check
        from launcher.data.layout import detect

        try:
            layout = await run_detached(detect, self.data)
            self.report = await run_detached(check, layout)
        except UserError as exc:  # the folder changed since the plan, or is not a dataset: one line
            self._say("dataset-report", str(exc))
            self._say("dataset-preview-note", "no preview: the data could not be read")
            return
        self.query_one("#dataset-report", Static).update(report_content(self.report))
        try:
            self.drawn = await run_detached(_draw, layout)
        except UserError as exc:
            self._say("dataset-preview-note", str(exc))
            return
        note = self.query_one("#dataset-preview-note", Static)
        note.update(Content.from_markup("[b]boxes[/] of $images $split images ($boxes boxes; $png)",
                                        images=str(self.drawn["images"]), split=PREVIEW_SPLIT,
                                        boxes=str(self.drawn["boxes"]), png=self.drawn["png"]))
        from tui.widgets.terminal_image import image_widget, preload

        await run_detached(preload)
        await self.query_one("#dataset-body").mount(image_widget(self.app, Path(self.drawn["png"]),
                                                                 id="dataset-image"))

    def action_back(self) -> None:
        self.dismiss()
