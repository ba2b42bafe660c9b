"""The prose of a results file that a bench writes itself: markdown at 120 columns, as the repository's is, and
number ranges as its sentences show them. Shared by the benches that write their own reading of their numbers
(``web_load.py``, ``cli_overhead.py``)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

__all__ = ["markdown", "span"]


def span(values: Sequence[float], digits: int = 0) -> str:
    """``low-high`` of ``values`` at ``digits`` decimals, or one number where both print the same."""
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return low if low == high else f"{low}-{high}"


def markdown(parts: Sequence[str]) -> str:
    """``parts`` as the lines of a document: a sentence or a ``- `` bullet wrapped at 120 columns (a bullet's later
    lines under its text); anything else (a blank, a heading, a table, a block opening with a number) as it is."""
    return "\n".join(_wrap(part) for part in parts)


def _wrap(part: str) -> str:
    bullet = part.startswith("- ")
    if not (bullet or part[:1].isalpha()):
        return part
    return textwrap.fill(part, 120, subsequent_indent="  " if bullet else "", break_long_words=False,
                         break_on_hyphens=False)
