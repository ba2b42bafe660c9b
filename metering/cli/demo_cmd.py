"""``metering demo``: the whole story on a local anvil the command starts and stops itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metering.cli._common import command

__all__ = ["demo"]


@command
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the invoices (JSON and CSV) and the event database.")] = Path(
        "demo-output"
    ),
) -> None:
    """Deploy, set rules, run concurrent agents over simulated time, bill, anchor, verify, catch a tampered bill."""
    from metering.demo import run_demo

    run_demo(out)
