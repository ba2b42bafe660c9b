"""The ``metering`` console script, installed with the library too: without the ``cli`` extra it says what to
install (one line, exit 3) instead of failing with an ImportError traceback."""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["main"]

#: What the command line imports beyond the library (the ``cli`` extra).
CLI_MODULES = ("typer", "rich", "yaml", "platformdirs")


def main() -> None:
    missing = [name for name in CLI_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f'error: the metering command line needs its extra (missing: {", ".join(missing)}): '
            'pip install "metering[cli]"',
            file=sys.stderr,
        )
        raise SystemExit(3)
    from metering.cli import main as cli_main

    cli_main()
