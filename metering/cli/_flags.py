"""Flags shown as flags in ``--help``.

Typer 0.29 shows every boolean option with a value placeholder (``--json <bool>``, even ``--help <bool>``), which
reads as if the flag took a value. Our own flags declare ``metavar=""``; this group does the same for the ``--help``
option Typer adds to every command, as commands are looked up.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

__all__ = ["FlagHelpGroup"]


def _hide_metavar(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


class FlagHelpGroup(TyperGroup):
    """A command group whose ``--help`` (its own and its commands') shows no value placeholder."""

    def get_help_option(self, ctx: Any) -> Any:
        return _hide_metavar(super().get_help_option(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not isinstance(command, FlagHelpGroup):
            _hide_metavar(command.get_help_option(ctx))
        return command
