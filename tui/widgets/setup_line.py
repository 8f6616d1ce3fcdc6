"""The Home's line about the training stack's background set-up (`make run` opens the TUI before torch
and mmcv are installed): what it is doing, the compile's progress and an estimate, or why it failed
with its log. Hidden when there is none to speak of (the stack is ready, or was set up otherwise)."""

from __future__ import annotations

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from launcher.stack import setup_status

POLL_S = 2.0  # a stat and a small read: cheap; the line is rewritten only when its text changes


class SetupLine(Static):
    DEFAULT_CSS = """
    SetupLine {
        height: auto;
        padding: 0 1;
        color: $accent;
        display: none;
    }
    SetupLine.failed {
        color: $error;
        text-style: bold;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._text = ""
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        self.look()

    def look(self) -> None:
        # This venv's set-up, the one `make run` started (the Plan's checks ask about the training
        # interpreter itself; reading config.toml here would cost the first frame its TOML parser).
        setup = setup_status.pending()
        text = setup.line() if setup else ""
        if text != self._text:  # nothing is sent to the terminal while the line says the same
            self._text = text
            self.set_class(bool(setup and setup.state == setup_status.FAILED), "failed")
            self.update(Content(text))
            self.display = bool(text)
        building = setup is not None and setup.state == setup_status.BUILDING
        if building and self._timer is None:
            self._timer = self.set_interval(POLL_S, self.look)
        elif not building and self._timer is not None:  # ready or failed: nothing more will change
            self._timer.stop()
            self._timer = None
