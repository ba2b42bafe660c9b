"""``metering verify-source``: does a deployed Meter run the shipped sources? Checked locally, no compiler needed."""

from __future__ import annotations

from typing import Annotated

import typer

from metering.chain.evm import EvmTarget
from metering.cli._common import (
    DEFAULT_RPC_URL,
    ContractOpt,
    ExitCode,
    JsonOpt,
    RpcUrlOpt,
    command,
    connect,
    console,
    print_json,
    require_contract,
)

__all__ = ["verify_source"]


@command
def verify_source(
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    evm_version: Annotated[
        EvmTarget | None,
        typer.Option(
            "--evm-version",
            case_sensitive=False,
            help="Compare with this build only (default: every shipped build).",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check the contract's code on chain against the shipped sources, locally: perfect match or exit 1.

    A perfect match is the code of a shipped build, metadata hash included (that hash pins every source).

    A partial match is the same code with other metadata; a mismatch is anything else. Both exit 1.
    """
    from metering.provider.source_verify import verify_source as run

    w3 = connect(rpc_url)
    targets = (evm_version,) if evm_version is not None else tuple(EvmTarget)
    result = run(w3, require_contract(contract), targets)
    if json_out:
        print_json(
            {
                "match": result.kind.value,
                "address": result.address,
                "chain_id": result.chain_id,
                "evm_version": result.evm_version,
                "contract": result.contract,
                "compiler": result.compiler,
                "onchain_metadata": result.onchain_metadata,
                "shipped_metadata": result.shipped_metadata,
            }
        )
    else:
        console.print(result.summary(), soft_wrap=True, highlight=False)
    if not result.ok:
        raise typer.Exit(int(ExitCode.DIFFERENCES))
