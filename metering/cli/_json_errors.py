"""Errors under ``--json``: scripts that asked for JSON get JSON on failure too.

With ``--json``, a failure prints one JSON object ``{"error": message, "code": exit_code}`` on stdout (where the
result would have been, so ``metering ... --json | jq`` always reads one document) and nothing on stderr; the exit
code is the same as without ``--json``. This covers our own errors (see :func:`metering.cli._common.command`) and
the command-line errors Typer finds before a command runs (unknown option, bad value: exit 2).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import typer

from metering.cli._flags import FlagHelpGroup

__all__ = ["JSON_FLAG", "JsonErrorsGroup", "print_json_error"]

JSON_FLAG = "--json"

#: click's ClickException (Typer vendors click in recent versions, so it is found through a public subclass):
#: every command-line error Typer raises before a command runs, with its exit code and message.
_ClickException: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"
)


def print_json_error(message: str, code: int) -> None:
    typer.echo(json.dumps({"code": int(code), "error": message}, sort_keys=True))


class JsonErrorsGroup(FlagHelpGroup):
    """The root command: when ``--json`` is on the command line, command-line errors are printed as JSON too."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if JSON_FLAG not in argv or not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except _ClickException as error:
            print_json_error(error.format_message(), error.exit_code)  # type: ignore[attr-defined]
            sys.exit(error.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            print_json_error("aborted", 1)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)
