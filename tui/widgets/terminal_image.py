"""A PNG shown in the terminal: pixel graphics where the terminal speaks them (kitty's graphics protocol,
sixel), Unicode half-blocks elsewhere, by textual-image.

textual-image picks its renderer when it is first imported, by asking the terminal (escape sequences
whose answers it reads from stdin). It is imported only when a picture is first shown, so the first
frame never pays for it; but by then Textual's input thread reads stdin too, and whichever thread reads
first gets the answer: a sixel terminal got half-blocks in 2 of 4 tries
(tests/test_data_tui.py::test_dataset_panel_draws_sixels_where_the_terminal_answers_that_it_speaks_them).
So that first import runs inside App.suspend(): the terminal is handed back as it was before the app
started, asked, and taken again (one blink of the screen, once per session). Its heavy dependencies
(Pillow; numpy, which it uses when present) are imported first, off the UI thread (preload), so the blink
lasts only as long as the questions: about 0.3 s in tmux rather than 1.5 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App, SuspendNotSupported
from textual.widget import Widget

__all__ = ["image_widget", "preload"]


def _asks_the_terminal() -> bool:
    """Whether importing textual-image now would query the terminal (not yet imported, stdout a terminal)."""
    out = sys.__stdout__
    return "textual_image.renderable" not in sys.modules and out is not None and out.isatty()


def preload() -> None:
    """Import what textual-image needs and asks nothing of the terminal; blocking, for a worker thread."""
    import PIL.Image  # noqa: F401
    import PIL.ImageFilter  # noqa: F401

    try:
        import numpy  # noqa: F401  textual-image's sixel encoder uses it when it is there
    except ImportError:
        pass


def image_widget(app: App, png: Path, **kwargs) -> Widget:
    """A widget that draws PNG with the best renderer this terminal has; KWARGS go to the widget (id, classes)."""
    if _asks_the_terminal():
        try:
            with app.suspend():
                import textual_image.widget  # noqa: F401  the terminal answers while it is ours
        except SuspendNotSupported:  # e.g. served on the web: textual-image asks nothing there
            pass
    from textual_image.widget import Image

    return Image(str(png), **kwargs)
