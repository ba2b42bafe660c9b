"""``metering node``: a local node from the project (anvil, Ganache or Hardhat), for trying things out by hand;
``--deploy`` also sets up a Meter ready to use."""

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
    client: Annotated[
        str, typer.Option(help="The node to run: anvil, ganache (7.9.2) or hardhat (a Hardhat 2 node), as pinned "
                          "in the repository's package.json.")
    ] = "anvil",
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Also deploy a Meter with account #0, grant account #1 the agent role, "
                           "enroll account #2, and print the exports to use it.", metavar="")
    ] = False,
) -> None:
    """Start a local node and print its RPC URL and funded dev accounts (address, key, role); Ctrl-C stops it."""
    from eth_account import Account

    from metering.chain.node import CLIENTS, LocalNode, dev_private_keys
    from metering.errors import ConfigError, NodeError

    if client not in CLIENTS:
        raise ConfigError(f"--client must be one of {', '.join(CLIENTS)}, not {client!r}")
    if port != 0 and not _port_free(port):
        # else the node fails to bind, exits, and the start-up check may be answered by the node already listening
        raise NodeError(f"port {port} on 127.0.0.1 is in use (another node?): choose another --port, or 0 for any")
    stop = threading.Event()
    # before anything is printed: a SIGTERM from a script that read the URL must still stop the node (no orphan),
    # and a Ctrl-C right after the last line (before the wait below begins) must not escape as a KeyboardInterrupt
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stop.set())
    with LocalNode(port=port, block_time=block_time, client=client) as running:
        keys = dev_private_keys(len(DEV_ROLES))
        # soft_wrap: a URL or a key broken over two lines cannot be copied (pipes and narrow terminals wrap at 80)
        console.print(f"{client} running at [bold]{running.rpc_url}[/] (pid {running.pid}, chain id "
                      f"{running.chain_id})", soft_wrap=True)
        console.print(f"  export ETH_RPC_URL={running.rpc_url}", soft_wrap=True)
        console.print("  funded dev accounts (public knowledge, local use only) and the role each would need:",
                      soft_wrap=True)
        for index, key in enumerate(keys):
            address = Account.from_key(key).address
            console.print(f"    #{index} {address}  {DEV_ROLES[index].format(address=address)}", soft_wrap=True,
                          highlight=False)
            console.print(f"       METERING_PRIVATE_KEY=0x{key.removeprefix('0x')}", soft_wrap=True, highlight=False)
        if deploy:
            _deploy_for_trying(running.rpc_url, keys)
        console.print(f"  Ctrl-C stops {client}", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        console.print(f"stopping {client}")


def _deploy_for_trying(rpc_url: str, keys: list[str]) -> None:
    """``--deploy``: a Meter ready to try, as the README's flow sets one up, and the exports that use it."""
    from eth_account import Account

    from metering.chain import connect
    from metering.chain.deployment import default_deployments_dir, describe_deployment, write_deployment
    from metering.provider import Provider

    provider_key, agent, customer = (Account.from_key(k) for k in keys)
    w3 = connect(rpc_url)
    provider = Provider.deploy(w3, provider_key)
    assert provider.deployment is not None and provider.evm_target is not None  # set by Provider.deploy
    write_deployment(describe_deployment(w3, provider.address, provider.deployment.tx_hash, provider.evm_target),
                     default_deployments_dir())
    provider.grant_agents([agent.address])
    provider.enroll_customers([customer.address])
    console.print(f"  Meter deployed at {provider.address} ({provider.evm_target.value} build) by #0; #1 holds the "
                  "agent role; #2 is enrolled. To use it (as the provider):", soft_wrap=True, highlight=False)
    console.print(f"  export ETH_RPC_URL={rpc_url} METERING_CONTRACT={provider.address} "
                  f"METERING_PRIVATE_KEY=0x{keys[0].removeprefix('0x')}", soft_wrap=True, highlight=False)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as anvil does: old TIME_WAIT connections are fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
