"""Agent commands: activate, renew, deactivate, expire, and the usage counters they move."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metering.cli._common import (
    UINT16_MAX,
    ExitCode,
    console,
    fitting_table,
    print_json,
)
from metering.cli._on_chain import OnChain, on_chain
from metering.timeparse import parse_duration, with_iso

if TYPE_CHECKING:
    from metering.agent import Agent

__all__ = ["activate", "deactivate", "expire", "renew", "usage"]



def _agent(on: OnChain, *, read_only: bool = False) -> Agent:
    from metering.agent import Agent

    return on.build(Agent, read_only=read_only)


def _report(result: Any, json_out: bool, line: str) -> None:
    if json_out:
        print_json({"result": type(result).__name__, **asdict(result)})
    else:
        console.print(line, highlight=False)


@on_chain(signs=True)
def activate(
    on: OnChain,
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
) -> None:
    """Ask the contract to authorize one instance; exits 6 when denied (the denial is recorded on chain)."""
    from metering.agent import Granted

    # the library checks the id (ConfigError naming it) and picks the next free seat when none is given
    seconds = parse_duration(lease, what="--lease")
    result = _agent(on).activate(customer, instance_type, seconds, request_id=request_id)
    replay = " (replayed: first decision)" if result.replayed else ""
    if isinstance(result, Granted):
        _report(result, on.json,
                f"[green]granted[/] instance 0x{result.instance_id.hex()} (request id {result.request_id}) until "
                f"{with_iso(result.lease_end)}{' [yellow](overage)[/]' if result.overage else ''}{replay}")
        return
    _report(result, on.json,
            f"[red]denied[/] request {result.request_id} (0x{result.instance_id.hex()}): {result.reason.name}{replay}")
    raise typer.Exit(int(ExitCode.DENIED))


@on_chain(signs=True)
def renew(
    on: OnChain,
    instance_id: Annotated[str, typer.Argument(help="Instance id (0x...).")],
    lease: Annotated[
        str, typer.Option(help="New lease from now: 600 (seconds), 10m, 1h (capped at the timeframe's end).")
    ] = "600",
) -> None:
    """Extend a running instance's lease; exits 6 when the renewal or continuation is denied."""
    from metering.agent import Continued, Renewed

    seconds = parse_duration(lease, what="--lease")  # a typo is said before connecting
    result = _agent(on).renew(instance_id, seconds)
    if isinstance(result, Renewed):
        _report(result, on.json, f"[green]renewed[/] until {with_iso(result.lease_end)}")
    elif isinstance(result, Continued):
        _report(result, on.json,
                f"[green]continued[/] into timeframe {result.timeframe}, billed from {with_iso(result.started_at)}, "
                f"until {with_iso(result.lease_end)}")
    else:
        _report(result, on.json, f"[red]renewal denied[/]: {result.reason.name}")
        raise typer.Exit(int(ExitCode.DENIED))


@on_chain(signs=True)
def deactivate(
    on: OnChain,
    instance_id: Annotated[str, typer.Argument(help="Instance id (0x...).")],
) -> None:
    """Stop a running instance now (or close it as expired if its lease already ran out)."""
    from metering.agent import Deactivated

    result = _agent(on).deactivate(instance_id)
    if isinstance(result, Deactivated):
        _report(result, on.json, f"deactivated at {with_iso(result.stopped_at)}")
    else:
        _report(result, on.json, f"lease had run out: closed as expired, billed until {with_iso(result.lease_end)}")


@on_chain(signs=True)
def expire(
    on: OnChain,
    instance_ids: Annotated[list[str], typer.Argument(help="Instance ids whose lease may have run out.")],
) -> None:
    """Close instances whose lease ran out (anyone may); billing of each stopped at its lease end."""
    from metering._utils.client import as_instance_id
    from metering.chain import chain_time
    from metering.contract import InstanceStatus

    ids = [as_instance_id(i) for i in instance_ids]  # all checked before anything is read or sent
    agent = _agent(on)
    now = chain_time(on.w3)
    skipped: list[dict[str, str]] = []
    due: list[bytes] = []
    for raw in dict.fromkeys(ids):  # each once: a repeated id would be sent (and paid for) twice
        record = agent.instance(raw)
        if record.status != InstanceStatus.OPEN:
            skipped.append({"instance_id": "0x" + raw.hex(), "why": f"{record.status.name.lower()}, not open"})
        elif record.lease_end > now + 1:  # the next block is at least one second later
            skipped.append({"instance_id": "0x" + raw.hex(), "why": f"lease runs until {with_iso(record.lease_end)}"})
        else:
            due.append(raw)
    closed = agent.expire(due) if due else 0  # nothing due: nothing sent, no gas spent
    if on.answer({"closed": closed, "given": len(instance_ids), "skipped": skipped}):
        return
    for item in skipped:
        console.print(f"  skipped {item['instance_id']}: {item['why']}", highlight=False)
    console.print(f"closed {closed} of {len(instance_ids)} instance(s)" + ("" if due else " (nothing sent)"))


@on_chain()
def usage(
    on: OnChain,
    customer: Annotated[str, typer.Option(help="Customer address.")],
    timeframe: Annotated[int, typer.Option(help="Timeframe id.", min=0, max=UINT16_MAX)],
    instance_type: Annotated[
        list[int], typer.Option("--type", help="Instance type id (repeatable).", min=0, max=UINT16_MAX)
    ],
) -> None:
    """Show the on-chain usage counters the next decision reads."""
    reader = on.reader()  # without web3: a read answers at once (issue 20)
    rows = [(kind, reader.usage(customer, timeframe, kind)) for kind in instance_type]
    if on.json:
        print_json([{"instance_type": kind, **asdict(u)} for kind, u in rows])
        return
    table = fitting_table("type", "running", "activations", "overage", "leased seconds",
                          title=f"usage of {customer} in timeframe {timeframe}")
    for kind, u in rows:
        table.add_row(str(kind), str(u.running), str(u.activations), str(u.overage_activations), str(u.leased_seconds))
    console.print(table)
