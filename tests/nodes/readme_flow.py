"""The README's CLI flow as a script the tests can run: the block after the "README flow" marker, command by command.

Only what the block needs of a shell is understood, and anything else fails the test, so the README stays
something a person can paste: comments, ``NAME=value`` assignments (shell variables), ``export NAME=value``,
``$NAME`` expansion, and ``NAME=value ... metering ARGS`` (variables for one command). Each ``metering`` command
runs in-process (Typer's CliRunner) against the test's node: the README's ``http://127.0.0.1:8545`` is replaced by
the node's URL, and nothing else. Every ``0x`` value the block writes must be a dev account's address or key, or
something an earlier command printed (the contract address ``deploy`` printed, the instance id ``activate``
printed), so the block cannot drift from what the commands really say.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from typer.testing import CliRunner, Result

from metering.chain.node import dev_private_keys
from metering.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- the README flow:"
README_URL = "http://127.0.0.1:8545"

_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_HEX = re.compile(r"0x[0-9a-fA-F]{40,}")


def flow_lines() -> list[str]:
    """The lines of the README's flow block (after the marker, inside its ```sh fence)."""
    text = README.read_text(encoding="utf-8")
    assert MARKER in text, "the README lost its flow block marker"
    after = text.split(MARKER, 1)[1]
    block = after.split("```sh\n", 1)[1].split("\n```", 1)[0]
    return block.splitlines()


def _dev_values() -> set[str]:
    keys = dev_private_keys(3)
    values = {("0x" + k.removeprefix("0x")).lower() for k in keys}
    values |= {Account.from_key(k).address.lower() for k in keys}
    return values


@dataclass
class Step:
    """One command run: the README line, the arguments, and what it printed."""

    line: str
    args: list[str]
    result: Result


@dataclass
class FlowRun:
    """Runs the flow's lines in order against ``rpc_url``, with ``env`` as the starting environment."""

    rpc_url: str
    env: dict[str, str | None]
    steps: list[Step] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    printed: str = ""

    def run(self, lines: list[str]) -> None:
        known = _dev_values()
        for line in lines:
            for literal in _HEX.findall(line):
                assert literal.lower() in known or literal.lower() in self.printed.lower(), (
                    f"the README flow writes {literal} in `{line.strip()}`, but no command before it printed that "
                    "value (a dev account's address or key, or an id an earlier command printed)"
                )
            tokens = [self._expand(t, line) for t in shlex.split(line, comments=True)]
            if not tokens:
                continue
            exported = tokens[0] == "export"
            if exported:
                tokens = tokens[1:]
            assignments: dict[str, str] = {}
            while tokens and _ASSIGNMENT.match(tokens[0]):
                name, value = _ASSIGNMENT.match(tokens.pop(0)).groups()  # type: ignore[union-attr]
                assignments[name] = self.rpc_url if value == README_URL else value
            if not tokens:
                self.variables.update(assignments)
                continue
            assert not exported, f"`export` with a command: {line!r}"
            assert tokens[0] == "metering", f"the README flow may only run `metering`, not: {line!r}"
            self._command(line, tokens[1:], assignments)

    def _expand(self, token: str, line: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            assert name in self.variables, f"${name} is used before it is set: {line!r}"
            return self.variables[name]

        return _VARIABLE.sub(value, token)

    def _command(self, line: str, args: list[str], extra: dict[str, str]) -> None:
        env = {**self.env, **self.variables, **extra}
        result = CliRunner().invoke(app, args, env=env)
        step = Step(line.strip(), args, result)
        self.steps.append(step)
        assert "Traceback" not in result.output, f"`{step.line}` printed a traceback:\n{result.output}"
        assert result.exit_code == 0, f"`{step.line}` exited {result.exit_code}:\n{result.output}"
        self.printed += result.output

    def output_of(self, *args: str) -> str:
        """What the first command starting with ``args`` printed (stdout and stderr)."""
        for step in self.steps:
            if step.args[: len(args)] == list(args):
                return step.result.output
        raise AssertionError(f"the flow ran no `metering {' '.join(args)}`")
