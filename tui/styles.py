"""Each screen's own CSS, added to the app's stylesheet when that screen first opens.

Textual parses all of an app's CSS before its first frame, and the rules of the screens
Home does not show were most of that work. So app.tcss holds Home's rules, and every
other screen calls `use_styles(self, NAME)` in its constructor: tui/NAME.tcss joins the
stylesheet as a user stylesheet (not default CSS, no scope), exactly as if its rules were
in app.tcss, and Textual parses just that file when the screen's widgets are styled.
"""

from __future__ import annotations

from pathlib import Path

from textual.dom import DOMNode

HERE = Path(__file__).resolve().parent


def use_styles(node: DOMNode, name: str) -> None:
    """Add tui/NAME.tcss to the running app's stylesheet (once)."""
    stylesheet = node.app.stylesheet  # screens are built inside the running app (its callbacks)
    path = HERE / f"{name}.tcss"
    if not stylesheet.has_source(str(path), ""):
        stylesheet.add_source(path.read_text(encoding="utf-8"), read_from=(str(path), ""))
