"""``metering dev``: move a development chain's time (anvil, Hardhat, Ganache only; anything else exits 3)."""

from __future__ import annotations

from typing import Annotated

import typer

from metering.cli._common import console, print_json
from metering.cli._flags import FlagHelpGroup
from metering.cli._on_chain import OnChain, on_chain
from metering.errors import ConfigError

__all__ = ["dev_app"]

#: One advance moves a dev chain at most ten years: a typo (10000000w, 190,000 years) cannot be undone but by a restart.
MAX_ADVANCE_DAYS = 3650
MAX_ADVANCE_SECONDS = MAX_ADVANCE_DAYS * 86_400

dev_app = typer.Typer(
    help="Move time on a local development chain (anvil, Hardhat, Ganache); refused anywhere else.",
    no_args_is_help=True,
    cls=FlagHelpGroup,
)


def _report(before: int, number: int, timestamp: int, json_out: bool, what: str) -> None:
    from metering.timeparse import format_duration, with_iso

    if json_out:
        print_json({"block": number, "timestamp": timestamp, "moved_seconds": timestamp - before})
    else:
        console.print(f"{what}: block {number} at {with_iso(timestamp)} ({format_duration(timestamp - before)} later "
                      "than the block before)", highlight=False)


@dev_app.command("advance")
@on_chain(meter=False)
def dev_advance(
    on: OnChain,
    duration: Annotated[str, typer.Argument(help="How far to move the clock: 90s, 2m, 1h30m, 30d (or seconds); at most "
                                            "3650d.")],
) -> None:
    """Move the chain's clock forward and mine a block (evm_increaseTime + evm_mine)."""
    from metering.chain import chain_time
    from metering.chain.devchain import advance
    from metering.timeparse import parse_duration

    seconds = parse_duration(duration, what="duration")
    if seconds > MAX_ADVANCE_SECONDS:
        raise ConfigError(f"{duration} is more than the {MAX_ADVANCE_DAYS} days (ten years) one advance may move a "
                          "dev chain: a clock moved that far cannot be moved back (restart the node instead)")
    w3 = on.w3
    before = chain_time(w3)
    block = advance(w3, seconds)
    _report(before, block.number, block.timestamp, on.json, f"advanced {duration}")


@dev_app.command("mine")
@on_chain(meter=False)
def dev_mine(
    on: OnChain, blocks: Annotated[int, typer.Argument(help="Number of blocks.", min=1, max=10_000)] = 1
) -> None:
    """Mine empty blocks (evm_mine), e.g. to give transactions confirmations."""
    from metering.chain import chain_time
    from metering.chain.devchain import mine

    w3 = on.w3
    before = chain_time(w3)
    block = mine(w3, blocks)
    _report(before, block.number, block.timestamp, on.json, f"mined {blocks} block(s)")
