"""``metering node``: a local anvil from the project, for trying things out by hand."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Annotated

import typer

from metering.cli._common import command, console

__all__ = ["node"]


@command
def node(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8545,
    block_time: Annotated[
        int | None, typer.Option(help="Seconds between blocks (default: a block per transaction).")
    ] = None,
) -> None:
    """Start a local anvil and print its RPC URL and funded dev accounts; Ctrl-C stops it."""
    from metering.node import LocalNode, dev_private_keys

    with LocalNode(port=port, block_time=block_time) as running:
        console.print(f"anvil running at [bold]{running.rpc_url}[/] (pid {running.pid}, chain id {running.chain_id})")
        console.print(f"  export ETH_RPC_URL={running.rpc_url}")
        console.print("  funded dev keys (public knowledge, local use only):")
        for index, key in enumerate(dev_private_keys(3)):
            console.print(f"    #{index}: METERING_PRIVATE_KEY=0x{key.removeprefix('0x')}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        console.print("stopping anvil")
