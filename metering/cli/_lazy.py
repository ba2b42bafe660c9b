"""Commands imported only when they run: ``metering --help`` and ``--version`` never load web3, rich tables or a
web server.

The model is pip's ``commands/__init__.py``: a table of command names, each with the dotted path of the object
that implements it (a function, or a :class:`typer.Typer` for a group of subcommands), the one-line help that
``metering --help`` shows, and the help panel it is listed under. :class:`LazyGroup` answers Click's
``list_commands`` from the table and imports a module in ``get_command``, when that command (or its ``--help``)
is asked for. The root help is written from the table by Click's plain formatter, so it needs no command module
and not Rich's help renderer either; a command's own ``--help`` is Typer's, once its module is loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import typer
import typer.main

from metering.cli._exit_codes import ExitCode
from metering.cli._json_errors import ClickException, JsonErrorsGroup
from metering.errors import ConfigError

__all__ = ["LazyCommand", "LazyGroup", "load"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives and how the root help lists it, without importing it."""

    target: str  # "package.module:attribute": a command function or a typer.Typer of subcommands
    panel: str  # the heading it is listed under in `metering --help`
    help: str  # the line shown there; a test keeps it equal to the command's own help
    cls: str | None = None  # "package.module:Class": a Click command class for a function target (Typer's cls=)


def _attribute(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def load(name: str, spec: LazyCommand) -> Any:
    """The Click command for ``spec``, named ``name`` (the module is imported now)."""
    target = _attribute(spec.target)
    command: Any
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
        single.command(name=name, cls=_attribute(spec.cls) if spec.cls else None)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(JsonErrorsGroup):
    """The root command: subcommands from :attr:`table`, imported on first use, and a root help that needs none."""

    table: Mapping[str, LazyCommand] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.table, *(name for name in super().list_commands(ctx) if name not in self.table)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        spec = self.table.get(cmd_name)
        if spec is not None and cmd_name not in self.commands:
            self.add_command(load(cmd_name, spec), cmd_name)
        command = super().get_command(ctx, cmd_name)
        if command is not None and not ctx.resilient_parsing:
            _apply_profile(ctx, cmd_name, command)
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The commands by panel, from the table: listing them imports none of them."""
        panels: dict[str, list[tuple[str, str]]] = {}
        for name, spec in self.table.items():
            panels.setdefault(spec.panel, []).append((name, spec.help))
        for name in super().list_commands(ctx):  # commands registered directly, not through the table
            if name not in self.table:
                command = super().get_command(ctx, name)
                if command is not None and not command.hidden:
                    panels.setdefault("Commands", []).append((name, command.get_short_help_str(200)))
        for panel, rows in panels.items():
            with formatter.section(panel):
                formatter.write_dl(rows)


#: A profile file that cannot be used: bad input, exit 3, one line like any other command-line error.
_BadProfile = type("_BadProfile", (ClickException,), {"exit_code": int(ExitCode.INPUT)})


def _apply_profile(ctx: Any, name: str, command: Any) -> None:
    """The profile's values become the defaults of ``command``'s parameters of the same name (Click's
    ``default_map``: a flag or an environment variable still wins)."""
    from metering.cli._profile import find_profile, load_profile

    try:
        defaults = load_profile(find_profile()).defaults()
    except ConfigError as exc:
        raise _BadProfile(str(exc)) from None
    if defaults:
        ctx.default_map = {**(ctx.default_map or {}), name: _defaults_tree(command, defaults)}


def _defaults_tree(command: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {p.name: defaults[p.name] for p in command.params if p.name in defaults}
    for sub_name, sub in getattr(command, "commands", {}).items():
        tree[sub_name] = _defaults_tree(sub, defaults)
    return tree
