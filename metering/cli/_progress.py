"""What a sending command shows while it waits for the chain.

On a chain with 12 s blocks a command that sends two transactions waits half a minute. So, on stderr, each
transaction's hash is printed the moment the node has it (a user can look it up, or find it again after a Ctrl-C),
and a spinner counts the blocks that passed until it is mined. Under ``--json`` nothing extra is shown: stdout
carries one JSON document and stderr stays empty for scripts. On an automining dev chain the receipt is there at
once, so only the hash line appears.

Each command runs under :func:`showing_progress` (see :func:`metering.cli._common.command`), and every sender the
CLI makes comes from :func:`new_sender`, which connects the sender's ``on_sent``/``on_wait``/``on_mined``
callbacks to the command's display.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from rich.status import Status
    from web3 import Web3

    from metering.chain.sender import TransactionSender

__all__ = ["TxProgress", "new_sender", "showing_progress"]


class TxProgress:
    """The hash of each transaction sent, and a spinner with the blocks passed while one is awaited."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._status: Status | None = None

    def sent(self, tx_hash: str, label: str) -> None:
        self._console.print(f"[dim]sent {label}: {tx_hash}[/]", highlight=False)

    def waiting(self, tx_hash: str, blocks: int) -> None:
        since = "sent in the latest block" if blocks == 0 else f"{blocks} block{'s' if blocks != 1 else ''} since"
        text = f"waiting for {tx_hash[:10]}… to be mined ({since})"
        if self._status is None:
            self._status = self._console.status(text)
            self._status.start()
        else:
            self._status.update(text)

    def mined(self, tx_hash: str, block_number: int) -> None:
        self.close()

    def close(self) -> None:
        status, self._status = self._status, None
        if status is not None:
            status.stop()


_CURRENT: ContextVar[TxProgress | None] = ContextVar("metering_tx_progress", default=None)


@contextmanager
def showing_progress(console: Console, *, enabled: bool) -> Iterator[None]:
    """Senders made inside (by :func:`new_sender`) show their progress on ``console`` when ``enabled``."""
    progress = TxProgress(console) if enabled else None
    token = _CURRENT.set(progress)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        if progress is not None:
            progress.close()


def new_sender(w3: Web3, account: LocalAccount) -> TransactionSender:
    """A sender for the Meter (its errors decoded) that shows its progress if the running command does."""
    from metering._utils.abi_errors import meter_error_decoder
    from metering.chain.sender import TransactionSender

    progress = _CURRENT.get()
    if progress is None:
        return TransactionSender(w3, account, error_decoder=meter_error_decoder())
    return TransactionSender(
        w3, account, error_decoder=meter_error_decoder(),
        on_sent=progress.sent, on_wait=progress.waiting, on_mined=progress.mined,
    )
