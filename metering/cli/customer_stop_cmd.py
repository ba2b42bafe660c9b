"""``metering customer stop``: the customer stops an instance billed to it, whichever agent runs it.

A revoke keeps an agent from activating or renewing, but its running lease ends only at its lease end (bounded by
the rules' ``max_lease_seconds``). This is how the customer stops it now, with its own key: the contract checks that
the instance is billed to the signer (``MeteringNotInstanceCustomer`` otherwise) and records
``InstanceStoppedByCustomer``; billing stops at that second.
"""

from __future__ import annotations

from typing import Annotated

import typer

from metering.cli._common import console
from metering.cli._on_chain import OnChain, on_chain

__all__ = ["customer_stop"]


@on_chain(signs=True, json=False)
def customer_stop(
    on: OnChain,
    instance_ids: Annotated[list[str], typer.Argument(help="Instance ids (0x + 64 hex digits) billed to you.")],
) -> None:
    """As the customer (its own key): stop instances billed to you now, e.g. those of an agent you revoked."""
    from metering._utils.client import as_instance_id
    from metering.customer import Customer
    from metering.timeparse import with_iso

    ids = [as_instance_id(value) for value in instance_ids]  # every id checked before anything is sent
    me = on.build(Customer)
    for raw in ids:
        stop = me.stop_instance(raw)
        how = "its lease had already ended at" if stop.expired else "billing stopped at"
        console.print(f"  {stop.customer} stopped 0x{raw.hex()}: {how} {with_iso(stop.stopped_at)}  tx {stop.tx_hash}")
