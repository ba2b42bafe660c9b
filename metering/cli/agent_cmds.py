"""Agent commands: activate, renew, deactivate, expire, and the usage counters they move."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from metering.cli._common import (
    DEFAULT_RPC_URL,
    UINT16_MAX,
    ContractOpt,
    ExitCode,
    JsonOpt,
    KeystoreOpt,
    RpcUrlOpt,
    command,
    connect,
    console,
    new_sender,
    print_json,
    require_contract,
    signer,
)
from metering.timeparse import parse_duration, with_iso

if TYPE_CHECKING:
    from metering.agent import Agent

__all__ = ["activate", "deactivate", "expire", "renew", "usage"]



def _agent(rpc_url: str, contract: str | None, keystore: Path | None, *, read_only: bool = False) -> Agent:
    from metering.agent import Agent

    w3 = connect(rpc_url)
    if read_only:
        return Agent(w3, require_contract(contract), None)
    account = signer(keystore)
    return Agent(w3, require_contract(contract), account, sender=new_sender(w3, account))


def _report(result: Any, json_out: bool, line: str) -> None:
    if json_out:
        print_json({"result": type(result).__name__, **asdict(result)})
    else:
        console.print(line, highlight=False)


@command
def activate(
    customer: Annotated[str, typer.Option(help="Customer address.")],
    instance_type: Annotated[int, typer.Option("--type", help="Instance type id.")],
    lease: Annotated[str, typer.Option(help="Lease: 600 (seconds), 10m, 1h; renew before it runs out.")] = "600",
    request_id: Annotated[
        int | None,
        typer.Option(
            help="Request id (seat << 8 | generation) to retry a request safely; by default the agent picks the "
            "next free seat and prints the id.",
            min=1,
            max=2**64 - 1,
        ),
    ] = None,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Ask the contract to authorize one instance; exits 6 when denied (the denial is recorded on chain)."""
    from metering.agent import Granted

    # the library checks the id (ConfigError naming it) and picks the next free seat when none is given
    seconds = parse_duration(lease, what="--lease")
    result = _agent(rpc_url, contract, keystore).activate(customer, instance_type, seconds, request_id=request_id)
    replay = " (replayed: first decision)" if result.replayed else ""
    if isinstance(result, Granted):
        _report(result, json_out,
                f"[green]granted[/] instance 0x{result.instance_id.hex()} (request id {result.request_id}) until "
                f"{with_iso(result.lease_end)}{' [yellow](overage)[/]' if result.overage else ''}{replay}")
        return
    _report(result, json_out,
            f"[red]denied[/] request {result.request_id} (0x{result.instance_id.hex()}): {result.reason.name}{replay}")
    raise typer.Exit(int(ExitCode.DENIED))


@command
def renew(
    instance_id: Annotated[str, typer.Argument(help="Instance id (0x...).")],
    lease: Annotated[
        str, typer.Option(help="New lease from now: 600 (seconds), 10m, 1h (capped at the timeframe's end).")
    ] = "600",
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Extend a running instance's lease; exits 6 when the renewal or continuation is denied."""
    from metering.agent import Continued, Renewed

    result = _agent(rpc_url, contract, keystore).renew(instance_id, parse_duration(lease, what="--lease"))
    if isinstance(result, Renewed):
        _report(result, json_out, f"[green]renewed[/] until {with_iso(result.lease_end)}")
    elif isinstance(result, Continued):
        _report(result, json_out,
                f"[green]continued[/] into timeframe {result.timeframe}, billed from {with_iso(result.started_at)}, "
                f"until {with_iso(result.lease_end)}")
    else:
        _report(result, json_out, f"[red]renewal denied[/]: {result.reason.name}")
        raise typer.Exit(int(ExitCode.DENIED))


@command
def deactivate(
    instance_id: Annotated[str, typer.Argument(help="Instance id (0x...).")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Stop a running instance now (or close it as expired if its lease already ran out)."""
    from metering.agent import Deactivated

    result = _agent(rpc_url, contract, keystore).deactivate(instance_id)
    if isinstance(result, Deactivated):
        _report(result, json_out, f"deactivated at {with_iso(result.stopped_at)}")
    else:
        _report(result, json_out, f"lease had run out: closed as expired, billed until {with_iso(result.lease_end)}")


@command
def expire(
    instance_ids: Annotated[list[str], typer.Argument(help="Instance ids whose lease may have run out.")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Close instances whose lease ran out (anyone may); billing of each stopped at its lease end."""
    closed = _agent(rpc_url, contract, keystore).expire(instance_ids)
    if json_out:
        print_json({"closed": closed, "given": len(instance_ids)})
    else:
        console.print(f"closed {closed} of {len(instance_ids)} instance(s)")


@command
def usage(
    customer: Annotated[str, typer.Option(help="Customer address.")],
    timeframe: Annotated[int, typer.Option(help="Timeframe id.", min=0, max=UINT16_MAX)],
    instance_type: Annotated[
        list[int], typer.Option("--type", help="Instance type id (repeatable).", min=0, max=UINT16_MAX)
    ],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the on-chain usage counters the next decision reads."""
    agent = _agent(rpc_url, contract, None, read_only=True)
    rows = [(kind, agent.usage(customer, timeframe, kind)) for kind in instance_type]
    if json_out:
        print_json([{"instance_type": kind, **asdict(u)} for kind, u in rows])
        return
    table = Table("type", "running", "activations", "overage", "leased seconds",
                  title=f"usage of {customer} in timeframe {timeframe}")
    for kind, u in rows:
        table.add_row(str(kind), str(u.running), str(u.activations), str(u.overage_activations), str(u.leased_seconds))
    console.print(table)
