"""The Settlement contract read without web3, for the CLI's read commands (issue 20): ``customer balance``,
``provider payouts``, ``verify --settlement``, ``invoice --format pdf --settlement``.

:class:`LeanSettlement` calls views through :func:`metering.chain.lean.call_view` (eth_abi from the shipped ABIs:
the Settlement's, an ERC-20's) and ``eth_getLogs`` through the :class:`~metering.chain.lean.LeanNode`; every parsing
is :class:`~metering.settlement.reads.SettlementReads`', shared with web3's
:class:`~metering.settlement.SettlementClient`, and so are its checks and messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_typing import ChecksumAddress

from metering.chain import checksum
from metering.chain.lean import LeanNode, NodeRefusedError, call_view, revert_error
from metering.errors import ConfigError
from metering.settlement.amounts import CurrencyToken
from metering.settlement.artifacts import SETTLEMENT, TOKEN, error_decoder
from metering.settlement.reads import SettlementReads

__all__ = ["LeanSettlement"]


class LeanSettlement(SettlementReads):
    """The Settlement contract at ``address`` read through ``node``, after the check of
    :class:`~metering.settlement.SettlementClient` (code at the address), with its message."""

    def __init__(self, node: LeanNode, address: str) -> None:
        self.node = node
        self.address: ChecksumAddress = checksum(address, what="the Settlement contract")
        if not node.get_code(self.address):
            raise ConfigError(f"no contract at {self.address} on this chain: check --settlement")
        self._tokens: dict[str, CurrencyToken] = {}

    def _view(self, function: str, *args: Any) -> Any:
        try:
            return call_view(self.node, SETTLEMENT, self.address, function, *args)
        except NodeRefusedError as exc:
            raise revert_error(function, exc, error_decoder()) from None

    def _token_view(self, token: ChecksumAddress, function: str) -> Any:
        try:
            return call_view(self.node, TOKEN, token, function)
        except NodeRefusedError as exc:
            raise revert_error(function, exc, error_decoder()) from None

    def _logs(self, query: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        logs: list[Mapping[str, Any]] = self.node.request("eth_getLogs", [query])
        return logs
