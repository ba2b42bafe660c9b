"""Fixtures of the CLI tests: a CliRunner on the session's anvil, rolled back after each test (see helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from metering.chain.node import LocalNode

from .helpers import Cli, Market, setup_market

if TYPE_CHECKING:
    from tests.conftest import Actors, Chain


@pytest.fixture
def cli(node: LocalNode, actors: Actors, chain: Chain, tmp_path: Path) -> Iterator[Cli]:
    """A CLI runner on the session's node; the chain is rolled back after the test."""
    snapshot = chain.snapshot()
    try:
        yield Cli(CliRunner(), node, actors, chain, tmp_path)
    finally:
        chain.revert(snapshot)


@pytest.fixture
def market(cli: Cli) -> Market:
    """A timeframe of one hour in force (its first second is the latest block), rules of examples/rules.yaml."""
    return setup_market(cli)
