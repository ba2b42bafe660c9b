"""The CLI answers instantly: ``metering --help`` and ``--version`` import no command module and nothing heavy.

The adversary is the next contributor who adds ``from web3 import Web3`` (or a Rich table, or Starlette) at the top
of a module the root reaches: the import graph is checked in a fresh interpreter, where ``sys.modules`` tells the
truth. The lazy table must also stay honest: every entry loads, and the line the root help shows is the command's
own help.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from typer.core import TyperCommand
from typer.main import get_command
from typer.testing import CliRunner

from metering.cli import COMMANDS, app
from metering.cli._lazy import LazyCommand, load

from .helpers import ok, plain

#: Packages that cost a second between them, or pull in a web server or a database driver.
HEAVY = ("web3", "eth_account", "eth_abi", "eth_keyfile", "eth_utils", "starlette", "uvicorn", "psycopg", "yaml",
         "pygments", "markdown_it", "rich", "typer.rich_utils", "sqlite3", "httpx", "requests", "aiohttp")

_PROBE = """
import json, sys
sys.argv = ["metering", *json.loads(sys.argv[1])]
{importer}
try:
    main()
except SystemExit:
    pass
print("MODULES=" + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(args: list[str], importer: str = "from metering._entry import main") -> set[str]:
    """The modules a fresh interpreter holds after running ``metering ARGS`` (through the console script's entry)."""
    probe = _PROBE.format(importer=importer)
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(args)], capture_output=True, text=True,
                          timeout=60, check=False)
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("args", [["--help"], ["--version"], [], ["no-such-command"], ["--json", "nope"]],
                         ids=lambda a: " ".join(a) or "bare")
def test_the_root_imports_nothing_heavy(args: list[str]) -> None:
    modules = _modules_after(args)
    assert _heavy(modules) == []
    assert not [m for m in modules if m.startswith("metering.cli.") and m.split(".")[-1].endswith(("_cmd", "_cmds"))]


def test_the_probe_can_fail() -> None:
    """The check above sees a heavy import when there is one (web3 imported before the command runs)."""
    assert "web3" in _heavy(_modules_after(["--version"], importer="import web3\nfrom metering._entry import main"))


def test_importing_the_chain_package_does_not_import_web3() -> None:
    modules = _modules_after(["--version"], importer="import metering.chain\nfrom metering._entry import main")
    assert _heavy(modules) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_table_entry_loads_and_its_help_line_is_the_commands_own(name: str) -> None:
    command = load(name, COMMANDS[name])
    assert command.name == name
    own = (command.help or "").strip().splitlines()[0]
    assert COMMANDS[name].help == own, f"update the line of {name!r} in metering/cli/__init__.py: {own!r}"


def test_the_root_help_lists_every_command_under_its_panel_without_loading_them() -> None:
    root = get_command(app)
    out = plain(ok(CliRunner().invoke(app, ["--help"])).stdout)
    for name, spec in COMMANDS.items():
        assert f"\n  {name} " in out, name
        assert out.index(f"{spec.panel}:") < out.index(f"\n  {name} "), name
    assert root.list_commands(click.Context(root)) == list(COMMANDS)


def test_an_unknown_command_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2
    assert plain(result.stderr).strip().splitlines() == [
        "error: No such command 'no-such-command'. (see `metering --help`)"
    ]


class _Marked(TyperCommand):
    """A command class of our own, as `invoice --commercial` brings one."""

    marked = True


def _hello() -> None:
    """Say hello."""


def test_a_table_entry_may_name_its_command_class() -> None:
    spec = LazyCommand(f"{__name__}:_hello", "Tests", "Say hello.", cls=f"{__name__}:_Marked")
    command = load("hello", spec)
    assert isinstance(command, _Marked) and command.name == "hello"
    assert not isinstance(load("hello", LazyCommand(f"{__name__}:_hello", "Tests", "Say hello.")), _Marked)
