"""A Rich table that wraps to the terminal's width instead of cutting (see :func:`metering.cli._common.fitting_table`).

Rich shrinks a too-wide table by trimming every column alike, down to ``min_width`` and below it, so a header such
as ``quantity`` ends as ``quanti…``. This table decides at render time: when its natural width fits, nothing
changes; when it does not, it spreads itself over the width in proportion to each column's longest word, so the
narrow columns stay readable and the wide ones wrap.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table

__all__ = ["FittingTable"]

#: A very long word (a hash, a long price) counts as this many characters when the width is shared out.
_LONGEST_WORD = 14


class FittingTable(Table):
    """See the module docstring."""

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
        natural = self.__rich_measure__(console, options).maximum
        if natural > options.max_width:
            padding = self.padding[1] + self.padding[3] if len(self.padding) == 4 else 2
            room = options.max_width - self._extra_width - padding * len(self.columns)
            for column, width in zip(self.columns, _share(room, self._wants()), strict=True):
                column.width = width
        yield from super().__rich_console__(console, options)

    def _wants(self) -> list[tuple[int, int, int]]:
        """Per column: the least width (its header's longest word), the width its words want (longest word, at
        most :data:`_LONGEST_WORD`), and its natural width (its longest cell)."""
        wants = []
        for column in self.columns:
            cells = [str(column.header), *(str(cell) for cell in column.cells)]
            least = column.min_width or 1
            word = max((len(w) for cell in cells for w in cell.split()), default=1)
            wants.append((least, max(least, min(word, _LONGEST_WORD)), max(len(cell) for cell in cells)))
        return wants


def _share(room: int, wants: list[tuple[int, int, int]]) -> list[int]:
    """Widths that add up to at most ``room`` (unless the headers alone need more): every column its least, then
    what its words want, then its natural width, each step shared in turn while room is left."""
    widths = [least for least, _, _ in wants]
    for goal in (1, 2):
        left = room - sum(widths)
        while left > 0:
            grown = False
            for i, want in enumerate(wants):
                if left > 0 and widths[i] < want[goal]:
                    widths[i] += 1
                    left -= 1
                    grown = True
            if not grown:
                break
    return widths
