"""The one-line title bar every screen docks at its top, in place of Textual's Header.

Textual's Header is three widgets (icon, title, clock space) with their own CSS, and
its module is imported, styled and mounted before the Home screen's first frame: ~5 ms
of CPU at start-up (bench/findings.md "startup-first-frame"). frcnn-tui shows neither
the icon nor a clock, so one Static with the same title text (the app's
`format_title`: "frcnn-tui — host") does the job.
"""

from __future__ import annotations

from textual.widgets import Static


class TitleBar(Static):
    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        width: 100%;
        height: 1;
        background: $panel;
        color: $foreground;
        content-align: center middle;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def on_mount(self) -> None:
        # The same sources Header follows: the screen's title/sub_title, else the app's.
        # init=False, then one update: four immediate callbacks would redraw four times.
        for obj in (self.app, self.screen):
            self.watch(obj, "title", self._show_title, init=False)
            self.watch(obj, "sub_title", self._show_title, init=False)
        self._show_title()

    def _show_title(self) -> None:
        screen, app = self.screen, self.app
        title = screen.title if screen.title is not None else app.title
        sub_title = screen.sub_title if screen.sub_title is not None else app.sub_title
        self.update(app.format_title(title, sub_title))
