"""A checkbox and a selection list whose state reads in text, not in colour alone.

Textual draws the same `▐X▌` for on and off and tells them apart by colour only; under NO_COLOR, or
over a monochrome SSH terminal, a chosen GPU and an unchosen one look alike. Here an unchosen one
shows `▐ ▌`, a chosen one `▐X▌`.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets._toggle_button import ToggleButton

OFF = " "
Value = TypeVar("Value")


class MarkedCheckbox(Checkbox):
    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 (ToggleButton reads this name when drawing the button)
        return ToggleButton.BUTTON_INNER if self.value else OFF


class MarkedSelectionList(SelectionList[Value], Generic[Value]):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        index = self.scroll_offset.y + y
        if index >= self.option_count or self.get_option_at_index(index).value in self._selected:
            return strip
        segments = list(strip)
        # SelectionList draws the button as its first three segments: left half, inner mark, right half.
        if len(segments) > 1 and segments[1].text == ToggleButton.BUTTON_INNER:
            segments[1] = Segment(OFF, segments[1].style, segments[1].control)
        return Strip(segments, strip.cell_length)
