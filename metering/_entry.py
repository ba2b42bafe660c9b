"""The ``metering`` console script, installed with the library too: without the ``cli`` extra it says what to
install (one line, exit 3) instead of failing with an ImportError traceback."""

from __future__ import annotations

import atexit
import importlib.util
import os
import sys

__all__ = ["main"]

#: What the command line imports beyond the library (the ``cli`` extra).
CLI_MODULES = ("typer", "rich", "yaml", "platformdirs")

#: A file to write the names of the loaded modules to when the command ends (tests: a read imports no web3).
DUMP_MODULES_ENV = "METERING_DUMP_MODULES"


def main() -> None:
    missing = [name for name in CLI_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f'error: the metering command line needs its extra (missing: {", ".join(missing)}): '
            'pip install "metering[cli]"',
            file=sys.stderr,
        )
        raise SystemExit(3)
    dump = os.environ.get(DUMP_MODULES_ENV)
    if dump:
        atexit.register(_dump_modules, dump)
    from metering.cli import main as cli_main

    cli_main()


def _dump_modules(path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(sorted(sys.modules)) + "\n")
