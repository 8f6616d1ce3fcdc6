"""DataTable helpers."""

from __future__ import annotations

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
