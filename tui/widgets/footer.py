"""Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer recomposes (removes and mounts every key, each restyled twice as its
`compact` binding settles) after every bindings refresh of its screen: focus moving, the
screen stack changing, and more. Opening the Monitor did that four times for the same six
keys (tens of ms of CPU on a slow box). This one keeps what it composed and skips a
recompose that would compose the same keys again.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Footer


class KeysFooter(Footer):
    _composed: Any = None  # what compose() last showed (None: nothing yet)

    def _keys(self) -> Any:
        """Everything Footer.compose reads: each shown binding in order, whether it is enabled,
        its tooltip; the command palette's key; the footer's own settings. (Focus moving
        between widgets whose bindings are all hidden changes none of it.)"""
        active = self.screen.active_bindings
        shown = tuple((binding, enabled, tooltip) for _, binding, enabled, tooltip in active.values() if binding.show)
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        return shown, palette and palette[1:], self.show_command_palette, self.app.ENABLE_COMMAND_PALETTE

    def compose(self) -> ComposeResult:
        self._composed = self._keys() if self._bindings_ready else None
        yield from super().compose()

    async def recompose(self) -> None:
        if self._composed is not None and self.is_attached and self._keys() == self._composed:
            return
        await super().recompose()
