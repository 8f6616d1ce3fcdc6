"""A few lines of text that repaint only the cells that changed.

The Monitor's summary and ETA move by a few characters at each logged line (the iteration,
the loss, the lr, the ETA), and a widget repaint sends every cell of its lines again, with
their colours, over the user's SSH link: ~450 bytes a line for what is ~20 changed cells.
Given new text of the same height, this widget marks dirty only the span of each line from
its first changed cell to its last (to the end of the longer line when the lengths differ:
what follows has moved), line by line as the text wraps at the widget's width; anything it
cannot place cell by cell (a wide character, another height) is a whole repaint, as
Static.update would do.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.content import Content
from textual.geometry import Region
from textual.widget import Widget

__all__ = ["ChangedText", "changed_span", "changed_spans"]


def _cells(line: Content) -> list[tuple[str, tuple]]:
    """Each character with the styles of the spans over it: what a cell shows."""
    styles: list[tuple] = [()] * len(line.plain)
    for span in line.spans:
        for i in range(span.start, min(span.end, len(styles))):
            styles[i] = (*styles[i], span.style)
    return list(zip(line.plain, styles))


def changed_spans(old: Content, new: Content, width: int) -> list[Region] | None:
    """The regions (content coordinates) whose cells differ from OLD to NEW, or None when they
    cannot be told cell by cell at this WIDTH (then the whole widget repaints)."""
    # As the widget lays them out (Content.wrap: the same wrapping, left-aligned, folded).
    old_lines, new_lines = old.wrap(width), new.wrap(width)
    if len(old_lines) != len(new_lines):
        return None
    regions = []
    for y, (a, b) in enumerate(zip(old_lines, new_lines)):
        if any(cell_len(line.plain) != len(line.plain) or len(line.plain) > width for line in (a, b)):
            return None
        span = changed_span(_cells(a), _cells(b))
        if span is not None:
            regions.append(Region(span[0], y, span[1] - span[0], 1))
    return regions


def changed_span(old: list, new: list) -> tuple[int, int] | None:
    """(first, last + 1) of the cells that differ between two lines (lists of what each cell
    shows), None when none does: to the end of the longer one when the lengths differ (what
    follows has moved)."""
    if old == new:
        return None
    start = next((i for i, (x, z) in enumerate(zip(old, new)) if x != z), min(len(old), len(new)))
    end = max(len(old), len(new))
    if len(old) == len(new):  # the same length: what did not move at the end stays
        while end > start and old[end - 1] == new[end - 1]:
            end -= 1
    return start, end


class ChangedText(Widget):
    """Text (a Content) whose ``show`` repaints only what changed."""

    DEFAULT_CSS = "ChangedText { height: auto; }"

    def __init__(self, content: Content | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._content = content or Content("")

    @property
    def content(self) -> Content:
        return self._content

    def render(self) -> Content:
        return self._content

    def show(self, content: Content) -> None:
        old, self._content = self._content, content
        if content.plain == old.plain and content.spans == old.spans:
            return
        width = self.content_size.width
        regions = changed_spans(old, content, width) if width > 0 else None
        if regions is None:
            # A layout pass of the whole screen (~10 ms) only when the height may change.
            same_height = width > 0 and old.get_height(self.styles, width) == content.get_height(self.styles, width)
            self.refresh(layout=not same_height)
        elif regions:
            self.refresh(*regions)
