"""A PNG shown in the terminal: pixel graphics where the terminal speaks them (kitty's graphics protocol,
sixel), Unicode half-blocks elsewhere, by textual-image.

textual-image picks its renderer when it is first imported, by asking the terminal (escape sequences
whose answers it reads from stdin). It is imported only when a picture is first shown, so the first
frame never pays for it; but by then Textual's input thread owns stdin and would swallow the answers
(textual-image then falls back to half-blocks after its timeouts, and the answers arrive as stray keys).
So that first import runs inside App.suspend(): the terminal is handed back as it was before the app
started, asked, and taken again (one blink of the screen, once per session).
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App, SuspendNotSupported
from textual.widget import Widget

__all__ = ["image_widget"]


def _asks_the_terminal() -> bool:
    """Whether importing textual-image now would query the terminal (not yet imported, stdout a terminal)."""
    out = sys.__stdout__
    return "textual_image.renderable" not in sys.modules and out is not None and out.isatty()


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
