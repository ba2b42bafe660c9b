"""``metering demo``: the whole story on a local anvil the command starts and stops itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metering.cli._common import command

__all__ = ["demo"]


@command
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the invoices (JSON and CSV) and the event database.")] = Path(
        "demo-output"
    ),
    serve: Annotated[
        bool,
        typer.Option("--serve", help="At the end, keep the node up and serve the web view until Ctrl-C.", metavar=""),
    ] = False,
    port: Annotated[int, typer.Option(help="Port of the web view with --serve (0: any free port).")] = 8000,
) -> None:
    """Deploy, set rules, run concurrent agents over simulated time, bill, anchor, verify, catch a tampered bill."""
    from metering.chain.node import LocalNode
    from metering.demo import DemoResult, run_demo

    def serve_view(node: LocalNode, result: DemoResult) -> None:
        from metering.chain import connect
        from metering.web.serve import serve_until_interrupted

        print(f"the node stays up at {node.rpc_url}; contract {result.contract}", flush=True)
        names = None
        if "directory" in result.books:  # the customers' names from the demo's directory file
            from metering.business.directory import load_directory

            names = {a: party.name for a, party in load_directory(result.books["directory"]).customers.items()}
        serve_until_interrupted(connect(node.rpc_url), result.contract, out / "provider.sqlite", port=port,
                                type_names=dict(TYPE_NAMES), customer_names=names)

    from metering.demo import TYPE_NAMES

    run_demo(out, then=serve_view if serve else None)
