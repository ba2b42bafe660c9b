"""``metering customer list``: every customer the provider ever enrolled, from the contract's events, with its
status and choices as the chain holds them now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from metering.cli._common import (
    console,
)
from metering.cli._on_chain import OnChain, on_chain

if TYPE_CHECKING:
    from metering.chain.lean import LeanNode

__all__ = ["customer_list"]


@on_chain(indexes=True)
def customer_list(
    on: OnChain,
    status: Annotated[
        str | None, typer.Option(help="Only customers with this status: enrolled or suspended.", show_default=False)
    ] = None,
) -> None:
    """List the customers ever enrolled (from the events), with status, agent restriction and spending cap."""
    from metering.audit.events import CustomerEnrolled, CustomerSuspended, TimeframeCreated
    from metering.errors import ConfigError
    from metering.money import format_minor

    wanted = status.strip().upper() if status else None
    if wanted not in (None, "ENROLLED", "SUSPENDED"):
        raise ConfigError(f"--status must be enrolled or suspended, not {status!r}")
    node = on.node  # every read without web3 (issue 20)
    with on.indexed(quiet=on.json, lean=True) as (store, _):
        changes = store.events(names=[CustomerEnrolled.name, CustomerSuspended.name])
        created = store.events(names=[TimeframeCreated.name])
    currencies = {e.currency for e in created if isinstance(e, TimeframeCreated)}
    # a cap is in minor units of each timeframe's currency: shown in it when every timeframe has the same one
    currency = next(iter(currencies)) if len(currencies) == 1 else None
    since: dict[str, int] = {}
    for change in changes:  # chain order: the last change of each customer wins
        if isinstance(change, CustomerEnrolled | CustomerSuspended):
            since[change.customer] = change.block_number
    reader = on.reader()
    rows: list[dict[str, Any]] = []
    for customer, block in since.items():
        account = reader.customer_account(customer)
        if wanted is not None and account.status.name != wanted:
            continue
        rows.append({"customer": customer, "status": account.status.name, "since_block": block,
                     "restricted": account.restricted, "spending_cap_minor": account.spending_cap,
                     "currency": currency})
    if on.answer(rows):
        return
    # one line per customer, never folded (an address is copied whole)
    for row in rows:
        minor = int(row["spending_cap_minor"])
        amount = f"{format_minor(minor, currency)} {currency}" if currency else f"{minor} minor units"
        cap = "no spending cap" if minor == 0 else f"spending cap {amount} per timeframe"
        accepts = "approved agents only" if row["restricted"] else "every provider agent"
        console.print(f"{row['customer']}  {str(row['status']).lower()} since block "
                      f"{_block_with_time(node, int(row['since_block']))}, accepts {accepts}, {cap}", highlight=False)
    console.print(f"[dim]{len(rows)} customer(s)[/]", highlight=False)


def _block_with_time(node: LeanNode, number: int) -> str:
    """``12 (2026-12-01T00:00:00Z)``, or the number alone when the node will not serve that block."""
    from metering.timeparse import format_instant

    try:
        block = node.block(number)
        return f"{number} ({format_instant(int(block['timestamp'], 16))})" if block else str(number)
    except Exception:  # a pruned node, or one that stopped answering: the number is still right
        return str(number)
