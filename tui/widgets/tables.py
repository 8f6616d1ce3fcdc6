"""DataTable helpers."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import DataTable


def fill_width(table: DataTable, key: str, minimum: int = 16) -> None:
    """Give column `key` the width the other columns leave, so the table never scrolls sideways."""
    column = table.columns.get(key)  # type: ignore[call-overload]
    if column is None or not table.size.width:
        return
    others = sum(c.get_render_width(table) for k, c in table.columns.items() if k != key)
    scrollbar = table.styles.scrollbar_size_vertical if table.show_vertical_scrollbar else 0
    column.auto_width = False
    column.width = max(minimum, table.size.width - others - scrollbar)
    table._require_update_dimensions = True
    table.refresh(layout=True)


class CellTable(DataTable):
    """A DataTable whose update_cell repaints the cell's row, not the whole table: DataTable's own
    refreshes every visible row for one new value, and each repaint is bytes over the user's SSH
    link. A value wider than its auto-sized column goes DataTable's way (the widths change)."""

    def update_cell(self, row_key, column_key, value, *, update_width: bool = False) -> None:  # type: ignore[override]
        from rich.cells import cell_len
        from rich.text import Text

        column = self.columns.get(column_key)  # keys compare equal to their strings
        wider = column is not None and column.auto_width and \
            cell_len(value.plain if isinstance(value, Text) else str(value)) > column.content_width
        if update_width or column is None or wider or row_key not in self._data:
            super().update_cell(row_key, column_key, value, update_width=update_width or wider)
            return
        # DataTable.update_cell's bookkeeping (the value, and the count its line cache is keyed by),
        # then a repaint of the one row.
        self._data[row_key][column.key] = value
        self._update_count += 1
        self.refresh_row(self.get_row_index(row_key))


class WindowTable(CellTable):
    """A CellTable that holds a window of a longer list (ten thousand jobs): DataTable measures
    every cell of each row it is given (~1 ms a row here), so its owner gives it only the rows
    around the cursor and moves the window when this table asks (``Edge``): the cursor within
    EDGE rows of a window end with more rows beyond it, or the first or last row of the whole
    list asked for (ctrl+home, ctrl+end)."""

    EDGE = 10

    class Edge(Message):
        """WHERE: "near" (the cursor near a window end: centre the window on it), "first", "last"."""

        def __init__(self, table: "WindowTable", where: str) -> None:
            super().__init__()
            self.table = table
            self.where = where

        @property
        def control(self) -> "WindowTable":
            return self.table

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.before = self.after = 0  # rows of the whole list above and below the window (the owner's)

    def action_scroll_top(self) -> None:
        if self.before:
            self.post_message(self.Edge(self, "first"))
        else:
            super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        if self.after:
            self.post_message(self.Edge(self, "last"))
        else:
            super().action_scroll_bottom()

    def watch_cursor_coordinate(self, old_coordinate, new_coordinate) -> None:
        super().watch_cursor_coordinate(old_coordinate, new_coordinate)
        row = new_coordinate.row
        if (self.after and row >= self.row_count - self.EDGE) or (self.before and row < self.EDGE):
            self.post_message(self.Edge(self, "near"))
