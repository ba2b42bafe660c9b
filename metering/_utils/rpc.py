"""JSON-RPC straight through the provider: no middleware, no result formatters, and batch requests.

``w3.eth.estimate_gas`` costs two extra ``eth_chainId`` round trips (web3's ``validation`` middleware), and every
``w3.eth`` call formats its result into ``AttributeDict``/``HexBytes`` objects that the hot paths then take apart
again. The sender therefore speaks to ``w3.provider`` directly (``make_request``, and ``make_batch_request`` for
many requests in one HTTP round trip) and reads the JSON answers itself, leaving the caller's ``Web3`` object and its
middleware untouched. Errors are raised as the web3 exceptions ``w3.eth`` would raise (``Web3RPCError`` with the
JSON-RPC response attached, ``ContractLogicError`` with the revert data for a reverting call or estimate), so the
code that classifies and decodes them works on either path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import RPCEndpoint, RPCResponse

__all__ = ["RawRpc", "error_from_response"]

#: Methods whose errors carry revert data, raised as ``ContractLogicError`` like web3 does.
_SIMULATING = frozenset({"eth_call", "eth_estimateGas"})


def error_from_response(method: str, response: Mapping[str, Any]) -> Exception:
    """The exception web3 would raise for an error ``response`` to ``method`` (a simplified mirror of web3's
    ``raise_contract_logic_error_on_revert`` for ``eth_call``/``eth_estimateGas``, ``Web3RPCError`` otherwise)."""
    error = response.get("error")
    rpc_response: RPCResponse = dict(response)  # type: ignore[assignment]
    if not isinstance(error, Mapping):
        message = str(error) if error is not None else f"{method} returned neither a result nor an error"
        return Web3RPCError(message, rpc_response=rpc_response)
    message = str(error.get("message") or "")
    if method in _SIMULATING:
        data = error.get("data")
        if isinstance(data, str) and data not in ("", "0x"):
            return ContractLogicError(message or "execution reverted", data=data)
        if isinstance(data, Mapping) and message:
            return ContractLogicError(f"execution reverted: {message}", data=dict(data))
        if error.get("code") == 3 or "revert" in message.lower():
            return ContractLogicError(message or "execution reverted", data=None)
    return Web3RPCError(message or str(error), rpc_response=rpc_response)


class RawRpc:
    """Requests through ``w3.provider``; :meth:`batch` falls back to one request each where batches are refused."""

    def __init__(self, w3: Web3) -> None:
        self._w3 = w3
        self.batches = callable(getattr(w3.provider, "make_batch_request", None))

    def call(self, method: str, params: Sequence[Any]) -> Any:
        """The ``result`` of ``method``; an error response raises (see :func:`error_from_response`)."""
        response = self._w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in response or "result" not in response:
            raise error_from_response(method, response)
        return response["result"]

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Mapping[str, Any]]:
        """The responses (``{"result": ...}`` or ``{"error": ...}``) to ``requests``, in order, from one JSON-RPC
        batch request. One request, or a provider without batches, is sent as single requests instead.

        :raises Web3RPCError: the node answered the whole batch with one error (nothing in it was processed).
        """
        if len(requests) == 1 or not self.batches:
            return [
                self._w3.provider.make_request(RPCEndpoint(method), list(params)) for method, params in requests
            ]
        answer: Any = self._w3.provider.make_batch_request(  # type: ignore[attr-defined]
            [(RPCEndpoint(method), list(params)) for method, params in requests]
        )
        if not isinstance(answer, list):
            raise error_from_response("batch", answer if isinstance(answer, Mapping) else {"error": answer})
        if len(answer) != len(requests):
            raise Web3RPCError(f"a batch of {len(requests)} requests got {len(answer)} answers")
        return answer
