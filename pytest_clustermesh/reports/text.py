"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, center: Sequence[bool] = ()
) -> list[str]:
    """Columns padded to their widest cell, separated by two spaces; ``center`` per column."""
    widths = [len(h) for h in headers]
    for row in rows:
        for column, cell in enumerate(row):
            widths[column] = max(widths[column], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = []
        for column, cell in enumerate(cells):
            centered = column < len(center) and center[column]
            width = widths[column]
            parts.append(cell.center(width) if centered else cell.ljust(width))
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(row) for row in rows)]
