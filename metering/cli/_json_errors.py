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

from metering.cli._exit_codes import ExitCode
from metering.cli._flags import FlagHelpGroup

__all__ = ["JSON_FLAG", "ClickException", "JsonErrorsGroup", "print_json_error"]

JSON_FLAG = "--json"

#: click's ClickException (Typer vendors click in recent versions, so it is found through a public subclass):
#: every command-line error Typer raises before a command runs, with its exit code and message.
ClickException: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"
)


def print_json_error(message: str, code: int) -> None:
    typer.echo(json.dumps({"code": int(code), "error": message}, sort_keys=True))


class JsonErrorsGroup(FlagHelpGroup):
    """The root command: a command-line error is one line (``error: ...`` on stderr, or with ``--json`` one JSON
    object on stdout) with Click's exit code, never Click's usage block or Rich's error panel."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        as_json = JSON_FLAG in argv
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except ClickException as error:
            exit_code: int = error.exit_code  # type: ignore[attr-defined]
            if type(error).__name__ == "NoArgsIsHelpError":  # bare `metering` or `metering rules`: the help
                error.show()  # type: ignore[attr-defined]
                sys.exit(exit_code)
            message: str = error.format_message()  # type: ignore[attr-defined]
            if as_json:
                print_json_error(message, exit_code)
            else:
                ctx = getattr(error, "ctx", None)
                hint = f" (see `{ctx.command_path} --help`)" if ctx is not None and exit_code == ExitCode.USAGE else ""
                typer.echo(f"error: {message}{hint}", err=True)
            sys.exit(exit_code)
        except typer.Abort:  # Ctrl-C (or end of input) at a prompt: the shell's code for an interrupt
            if as_json:
                print_json_error("interrupted", ExitCode.INTERRUPTED)
            else:
                typer.echo("error: interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)
