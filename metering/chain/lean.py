"""The CLI's reads without web3: JSON-RPC over one kept-alive ``http.client`` connection, views encoded and decoded
with eth_abi from the shipped ABI.

Why: importing web3 costs most of a second (eth_account's BLS tables, aiohttp, requests), ten times what a read
command's calls take on a local node. A command that only reads (``usage``, ``timeframe list``, ``rules show``,
``instance show``, ``customer account``, ``customer list``, ``events``) connects with :func:`lean_connect` and reads
through :class:`LeanMeter`, which inherits the typed reads of :class:`~metering._utils.reads.MeterReads` (one parsing
path with the library's web3 client). Its first question is the same probe as :func:`metering.chain.connect`, and
its checks raise the same errors: a URL that is no node, a node that serves no blocks, an address without a Meter,
a revert decoded to its Meter error, a node that stops answering (retried like web3's requests, then
:class:`RpcUnavailableError`). Commands that send transactions keep web3.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from metering._utils.lean_http import LeanRpc
from metering._utils.reads import MeterReads
from metering._utils.rpc_retry import retry_transient
from metering.chain.probe import probe_chain_id
from metering.errors import ConfigError, ContractRevertError, RpcUnavailableError

if TYPE_CHECKING:
    from metering._utils.abi_errors import ErrorDecoder

__all__ = ["LeanMeter", "LeanNode", "NodeRefusedError", "call_view", "lean_connect", "revert_error"]


class NodeRefusedError(RpcUnavailableError):
    """The node answered a request with a JSON-RPC error (``code``, ``message``, ``data`` as it gave them)."""

    def __init__(self, method: str, error: Any) -> None:
        fields = error if isinstance(error, dict) else {"message": str(error)}
        code = fields.get("code")
        self.code: int | None = code if isinstance(code, int) else None
        self.rpc_message = str(fields.get("message", error))
        self.data: Any = fields.get("data")
        super().__init__(f"the node refused {method}: {self.rpc_message}")


class LeanNode:
    """A node's JSON-RPC over kept-alive connections: each request retried on transient failures (no answer, a
    timeout, HTTP 429/5xx) like the library's, an error answer raised as :class:`NodeRefusedError`."""

    def __init__(self, rpc_url: str, timeout: float, chain_id: int | None = None) -> None:
        self.rpc_url = rpc_url
        self.timeout = timeout
        self._chain_id = chain_id
        self._rpc = self.new_connection()

    def new_connection(self) -> LeanRpc:
        """A connection of its own (one per thread: the indexer reads logs in a second thread)."""
        return LeanRpc(self.rpc_url, {}, self.timeout)

    @property
    def connection(self) -> LeanRpc:
        """The connection of the thread that made this node."""
        return self._rpc

    def request(self, method: str, params: list[Any], *, what: str | None = None) -> Any:
        """The ``result`` of ``method(params)``."""
        rpc = self._rpc

        def ask() -> dict[str, Any]:
            try:
                return rpc.request(method, params)
            except ValueError as exc:  # an answer that is not JSON (a proxy's error page): worth another try
                raise ConnectionError(f"the answer to {method} is not JSON ({exc})") from None

        response = retry_transient(ask, what or method)
        if not isinstance(response, dict):
            raise RpcUnavailableError(f"the node answered {method} with {type(response).__name__}, not JSON-RPC")
        if response.get("error") is not None:
            raise NodeRefusedError(what or method, response["error"])
        return response.get("result")

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.request("eth_chainId", []), 16)
        return self._chain_id

    def block_number(self) -> int:
        return int(self.request("eth_blockNumber", []), 16)

    def block(self, number: int | str) -> dict[str, Any] | None:
        """Block ``number`` (or a tag such as ``"latest"``) without its transactions, as the node sends it."""
        tag = hex(number) if isinstance(number, int) else number
        block: dict[str, Any] | None = self.request("eth_getBlockByNumber", [tag, False])
        return block

    def get_code(self, address: str, block: int | str = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        return bytes.fromhex(str(self.request("eth_getCode", [address, tag]))[2:])

    def call(self, to: str, data: bytes, *, what: str, block: int | str = "latest") -> bytes:
        """``eth_call`` at ``block`` (a number or a tag); a revert is :class:`NodeRefusedError` with the revert
        data."""
        tag = hex(block) if isinstance(block, int) else block
        result = self.request("eth_call", [{"to": to, "data": "0x" + data.hex()}, tag], what=what)
        return bytes.fromhex(str(result)[2:])

    def close(self) -> None:
        self._rpc.close()


def lean_connect(rpc_url: str, *, timeout: float) -> LeanNode:
    """A :class:`LeanNode` at ``rpc_url`` once it answered as a node (the checks of
    :func:`metering.chain.connect`, with its messages: a bad URL, nothing answering, not JSON-RPC, no blocks)."""
    parsed = urlparse(rpc_url)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ConfigError(f"not an RPC URL: {rpc_url!r} (expected http://host:port or https://...)")
    node = LeanNode(rpc_url, timeout, probe_chain_id(rpc_url, timeout))
    try:
        latest = node.block("latest")
    except RpcUnavailableError as exc:
        raise RpcUnavailableError(f"the node at {rpc_url} does not serve blocks: {exc}") from exc
    if not isinstance(latest, dict) or "timestamp" not in latest:
        raise RpcUnavailableError(f"the node at {rpc_url} does not serve blocks: it answered {latest!r}")
    return node


@cache
def _functions(contract: str = "Meter") -> dict[str, tuple[bytes, tuple[str, ...], tuple[str, ...]]]:
    """Each function of the shipped ABI of ``contract`` (an artifact's name) by name: its selector, input types and
    output types."""
    from eth_utils.crypto import keccak

    from metering._utils.logdecode import canonical_type
    from metering.contract import artifact

    table: dict[str, tuple[bytes, tuple[str, ...], tuple[str, ...]]] = {}
    for item in artifact(contract)["abi"]:
        if item.get("type") != "function":
            continue
        inputs = tuple(canonical_type(i) for i in item.get("inputs", []))
        outputs = tuple(canonical_type(o) for o in item.get("outputs", []))
        name = str(item["name"])
        table[name] = (keccak(text=f"{name}({','.join(inputs)})")[:4], inputs, outputs)
    return table


def call_view(node: LeanNode, contract: str, address: str, function: str, *args: Any,
              block: int | str = "latest") -> Any:
    """The view ``function(*args)`` of ``address`` (whose ABI is the artifact ``contract``'s), encoded and decoded
    with eth_abi: one value for a one-output function, else a tuple, as web3 returns them. A revert is the node's
    :class:`NodeRefusedError` (the caller decodes it with its contract's errors)."""
    from eth_abi.abi import decode, encode

    selector, inputs, outputs = _functions(contract)[function]
    data = selector + encode(list(inputs), list(args))
    raw = node.call(address, data, what=f"eth_call {function}", block=block)
    values = decode(list(outputs), raw)
    return values[0] if len(values) == 1 else values


class LeanMeter(MeterReads):
    """The Meter at ``address`` read through a :class:`LeanNode`; build it with :meth:`at` (which checks the code)."""

    def __init__(self, node: LeanNode, address: str) -> None:
        self.node = node
        self.address = address

    @classmethod
    def at(cls, node: LeanNode, address: str) -> LeanMeter:
        """The Meter at ``address``, after the checks of :func:`metering.chain.meter_contract` (an address, code
        there, a Meter's code), with its messages."""
        from metering.chain import check_meter_code, checksum

        checked = checksum(address, what="the Meter contract")
        try:
            code = node.get_code(checked)
        except NodeRefusedError as exc:
            raise RpcUnavailableError(f"the node stopped answering while reading {checked}: {exc}") from exc
        check_meter_code(checked, code, node.chain_id())
        return cls(node, checked)

    def _view(self, function: str, *args: Any, block: int | str = "latest") -> Any:
        try:
            return call_view(self.node, "Meter", self.address, function, *args, block=block)
        except NodeRefusedError as exc:
            raise revert_error(function, exc) from None

    def chain_time(self) -> int:
        block = self.node.block("latest")
        if not isinstance(block, dict):
            raise RpcUnavailableError("the node did not return the latest block (eth_getBlockByNumber)")
        return int(block["timestamp"], 16)


def revert_error(function: str, exc: NodeRefusedError, decoder: ErrorDecoder | None = None) -> Exception:
    """The error a reverted view raised, decoded with ``decoder`` (default: the Meter's); a refusal that is no revert
    stays a :class:`NodeRefusedError`."""
    from metering._utils.abi_errors import meter_error_decoder

    data = exc.data if isinstance(exc.data, str) else None
    if data and data.startswith("0x") and len(data) >= 10:
        decoded = (decoder or meter_error_decoder()).decode(data)
        if decoded is not None:
            return decoded
    if "revert" in exc.rpc_message.lower():
        return ContractRevertError("unknown", {}, message=f"{function} reverted: {exc.rpc_message}")
    return exc
