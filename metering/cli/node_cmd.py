"""``metering node``: a local anvil from the project, for trying things out by hand."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from typing import Annotated

import typer

from metering.cli._common import command, console

__all__ = ["DEV_ROLES", "node"]

#: What each printed dev account is for in the README's flow; a contract checks roles, so say which one to grant.
DEV_ROLES = (
    "provider: `metering deploy` with this key makes it admin and rules manager",
    "agent: needs the agent role, granted by the provider: `metering agent grant {address}`",
    "customer: needs enrolling by the provider: `metering customer enroll {address}`",
)


@command
def node(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8545,
    block_time: Annotated[
        int | None, typer.Option(help="Seconds between blocks (default: a block per transaction).")
    ] = None,
) -> None:
    """Start a local anvil and print its RPC URL and funded dev accounts (address, key, role); Ctrl-C stops it."""
    from eth_account import Account

    from metering.chain.node import LocalNode, dev_private_keys
    from metering.errors import NodeError

    if port != 0 and not _port_free(port):
        # else anvil fails to bind, exits, and the start-up check may be answered by the node already listening there
        raise NodeError(f"port {port} on 127.0.0.1 is in use (another node?): choose another --port, or 0 for any")
    stop = threading.Event()
    # before anything is printed: a SIGTERM from a script that read the URL must still stop anvil (no orphan), and a
    # Ctrl-C right after the last line (before the wait below begins) must not escape as a KeyboardInterrupt
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stop.set())
    with LocalNode(port=port, block_time=block_time) as running:
        # soft_wrap: a URL or a key broken over two lines cannot be copied (pipes and narrow terminals wrap at 80)
        console.print(f"anvil running at [bold]{running.rpc_url}[/] (pid {running.pid}, chain id {running.chain_id})",
                      soft_wrap=True)
        console.print(f"  export ETH_RPC_URL={running.rpc_url}", soft_wrap=True)
        console.print("  funded dev accounts (public knowledge, local use only) and the role each would need:",
                      soft_wrap=True)
        for index, key in enumerate(dev_private_keys(len(DEV_ROLES))):
            address = Account.from_key(key).address
            console.print(f"    #{index} {address}  {DEV_ROLES[index].format(address=address)}", soft_wrap=True,
                          highlight=False)
            console.print(f"       METERING_PRIVATE_KEY=0x{key.removeprefix('0x')}", soft_wrap=True, highlight=False)
        console.print("  Ctrl-C stops anvil", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        console.print("stopping anvil")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as anvil does: old TIME_WAIT connections are fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
