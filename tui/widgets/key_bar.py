"""The key bar every screen docks at its bottom, in place of Textual's Footer.

It shows what Footer shows (each shown binding of the focused chain as key and
description, disabled ones dimmed, the command palette's key on the right; a click on a
key presses it) as one line of text, drawn by one widget.

Why not Footer: Footer is a scrolling container of one widget per key, and it composes
nothing until its screen's bindings are first refreshed, so the Home screen's first frame
had an empty footer and paid for it anyway: its module, its own and its keys' CSS, and
then a recompose that mounts and restyles every key (after each later bindings refresh
too). Footer cost the Home's first frame ~22 M instructions (its module 10 M), this bar
~13 M with its keys drawn: about 3 ms less on a 2-core box, where issue 16 asks the whole
frame to stay within 1.2x a Textual hello-world (bench/findings.md "startup-first-frame").
A bindings refresh repaints one line.
"""

from __future__ import annotations

from rich.style import Style
from textual.content import Content
from textual.widget import Widget

# The app's keys that stay in view however narrow the terminal: how to leave is never cut.
PINNED_ACTIONS = frozenset({"quit"})
# Footer's own theme variables, so the bar looks like Footer under every theme.
_KEY = "bold $footer-key-foreground on $footer-key-background"
_DESCRIPTION = "$footer-description-foreground on $footer-description-background"


class KeyBar(Widget):
    ALLOW_SELECT = False
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        link-style-hover: none;
        link-color-hover: $footer-key-foreground;
        link-background-hover: $block-hover-background;
    }
    """

    @property
    def link_style(self) -> Style:
        # No link colours: each key keeps Footer's (Textual paints a clickable span in the
        # link colour by default). Under the mouse a key is highlighted as in Footer
        # (link-*-hover above).
        return Style()

    _drawn: object = None  # the keys the bar last drew (None: not drawn yet)
    _tipped: object = None  # the keys its tooltip describes

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _shown(self) -> list[tuple[str, str, str, bool, str, bool]]:
        """(key, key as shown, description, enabled, tooltip, pinned) of each key the bar shows,
        in Footer's order: one key per action (the first bound), the palette's key last."""
        app = self.app
        shown, actions = [], set()
        for node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in actions:
                actions.add(binding.action)
                shown.append((binding.key, app.get_key_display(binding), binding.description, enabled,
                              tooltip or binding.tooltip, node is app and binding.action in PINNED_ACTIONS))
        return shown

    def _palette(self) -> tuple[str, str, str, bool] | None:
        app = self.app
        if not app.ENABLE_COMMAND_PALETTE:
            return None
        entry = self.screen.active_bindings.get(app.COMMAND_PALETTE_BINDING)
        if entry is None:
            return None
        _node, binding, enabled, _tooltip = entry
        return binding.key, app.get_key_display(binding), binding.description, enabled

    def _bindings_changed(self, _screen: object) -> None:
        shown, palette = self._shown(), self._palette()
        if shown != self._tipped:
            # What each key does, in one tooltip (Footer gave each key its own).
            self._tipped = shown
            self.tooltip = "\n".join(f"{key_shown}  {tip or description}"
                                     for _key, key_shown, description, _enabled, tip, _pin in shown) or None
        if (shown, palette) != self._drawn:  # else focus moved, the same keys: no repaint (over SSH, no bytes)
            self.refresh()

    @staticmethod
    def _key(key: str, shown: str, description: str, enabled: bool) -> Content:
        text = Content.assemble((f" {shown} ", _KEY), (f"{description} " if description else "", _DESCRIPTION))
        if not enabled:
            return text.stylize("dim").stylize("@click=app.bell")  # as Footer does for a disabled key
        # A click presses the key: the same action, with the same checks, as typing it.
        return text.stylize(f"@click=app.simulate_key({key!r})")

    def render(self) -> Content:
        # Read at each render, not kept from the last bindings refresh: the first frame comes
        # before the screen has focused anything and published its bindings.
        shown, palette = self._shown(), self._palette()
        self._drawn = shown, palette
        keys = [(self._key(key, key_shown, description, enabled), pinned)
                for key, key_shown, description, enabled, _tip, pinned in shown]
        left = Content("").join(text for text, _pinned in keys)
        if left.cell_length > self.size.width > 0:
            # Too narrow for every key: the others are cut (with an ellipsis), never quit.
            pinned = Content("").join(text for text, pin in keys if pin)
            rest = Content("").join(text for text, pin in keys if not pin)
            left = rest.truncate(max(0, self.size.width - pinned.cell_length), ellipsis=True) + pinned
        if palette is None:
            return left
        right = Content.assemble(("▏", "$foreground 20%")) + self._key(*palette)
        gap = self.size.width - left.cell_length - right.cell_length
        if gap < 1:  # too narrow for both: the screen's own keys matter more
            return left
        return left + Content(" " * gap) + right
