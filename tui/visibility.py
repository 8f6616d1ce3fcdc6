"""Whether a screen shows at all: screens under an opaque one skip their periodic redraws.

Textual's `Screen.is_current` is also True for the screen directly beneath the top one,
even when the top one is opaque (`App._background_screens` always includes it), and
`Screen.is_active` is False for a screen that shows through a modal dialog's translucent
background. Neither says "a user can see this screen".
"""

from __future__ import annotations

from textual.screen import Screen


def screen_visible(screen: Screen) -> bool:
    """True for the top screen of the current mode and for the screens that show through
    it (under a translucent screen such as a dialog or the command palette)."""
    try:
        stack = screen.app.screen_stack
    except Exception:  # no app, or the app is shutting down
        return False
    for above in reversed(stack):
        if above is screen:
            return True
        if above.styles.background.a >= 1:
            return False
    return False
