"""``metering customer stop``: the customer stops an instance billed to it, whichever agent runs it.

A revoke keeps an agent from activating or renewing, but its running lease ends only at its lease end (bounded by
the rules' ``max_lease_seconds``). This is how the customer stops it now, with its own key: the contract checks that
the instance is billed to the signer (``MeteringNotInstanceCustomer`` otherwise) and records
``InstanceStoppedByCustomer``; billing stops at that second.
"""

from __future__ import annotations

from typing import Annotated

import typer

from metering.cli._common import (
    DEFAULT_RPC_URL,
    ContractOpt,
    KeystoreOpt,
    RpcUrlOpt,
    command,
    connect,
    console,
    new_sender,
    require_contract,
    signer,
)

__all__ = ["customer_stop"]


@command
def customer_stop(
    instance_ids: Annotated[list[str], typer.Argument(help="Instance ids (0x + 64 hex digits) billed to you.")],
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    keystore: KeystoreOpt = None,
) -> None:
    """As the customer (its own key): stop instances billed to you now, e.g. those of an agent you revoked."""
    from metering._utils.client import as_instance_id
    from metering.customer import Customer
    from metering.timeparse import with_iso

    ids = [as_instance_id(value) for value in instance_ids]  # every id checked before anything is sent
    w3 = connect(rpc_url)
    account = signer(keystore)
    me = Customer(w3, require_contract(contract), account, sender=new_sender(w3, account))
    for raw in ids:
        stop = me.stop_instance(raw)
        how = "its lease had already ended at" if stop.expired else "billing stopped at"
        console.print(f"  {stop.customer} stopped 0x{raw.hex()}: {how} {with_iso(stop.stopped_at)}  tx {stop.tx_hash}")
