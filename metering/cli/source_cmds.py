"""``metering verify-source``: does a deployed Meter run the shipped sources? Checked locally, no compiler needed."""

from __future__ import annotations

from typing import Annotated

import typer

from metering.chain.evm import EvmTarget
from metering.cli._common import (
    ExitCode,
    console,
)
from metering.cli._on_chain import OnChain, on_chain

__all__ = ["verify_source"]


@on_chain()
def verify_source(
    on: OnChain,
    evm_version: Annotated[
        EvmTarget | None,
        typer.Option(
            "--evm-version",
            case_sensitive=False,
            help="Compare with this build only (default: every shipped build).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check the contract's code on chain against the shipped sources, locally: perfect match or exit 1.

    A perfect match is the code of a shipped build, metadata hash included (that hash pins every source).

    A partial match is the same code with other metadata; a mismatch is anything else. Both exit 1.
    """
    from metering.audit.source_verify import verify_source as run

    targets = (evm_version,) if evm_version is not None else tuple(EvmTarget)
    result = run(on.node, on.address, targets)  # without web3 (issue 20)
    shown = {
        "match": result.kind.value,
        "address": result.address,
        "chain_id": result.chain_id,
        "evm_version": result.evm_version,
        "contract": result.contract,
        "compiler": result.compiler,
        "onchain_metadata": result.onchain_metadata,
        "shipped_metadata": result.shipped_metadata,
    }
    if not on.answer(shown):
        console.print(result.summary(), soft_wrap=True, highlight=False)
    if not result.ok:
        raise typer.Exit(int(ExitCode.DIFFERENCES))
