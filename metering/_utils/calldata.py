"""Calldata with precomputed selectors: ``selector || eth_abi.encode(types, args)``, no web3 contract machinery.

``contract.encode_abi(name, args)`` finds the function among the ABI's overloads, checks and normalises every
argument against its type and builds the codecs again, on every call: for one ``requestActivation`` that is most of
the encoding time. The agent's hot calls already hold canonical Python values (checksummed addresses, ``bytes`` ids,
``int`` counts), so the selector and the type list are computed once from the ABI and ``eth_abi`` encodes directly.
Overloaded functions are addressed by their signature (``"f(uint256)"``), a unique name by its name alone.

>>> encoder = meter_call_encoder()                                               # doctest: +SKIP
>>> data = encoder.encode("deactivate", [instance_id])                           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from metering._utils.logdecode import canonical_type
from metering.contract import abi

__all__ = ["CallEncoder", "FunctionSpec", "meter_call_encoder"]


@dataclass(frozen=True)
class FunctionSpec:
    """One function of an ABI: its signature, 4-byte selector and argument types."""

    name: str
    signature: str
    selector: bytes
    types: tuple[str, ...]


class CallEncoder:
    """Every function of ``contract_abi`` with its selector computed once."""

    def __init__(self, contract_abi: Iterable[Mapping[str, Any]]) -> None:
        self._specs: dict[str, FunctionSpec] = {}
        overloaded: set[str] = set()
        for item in contract_abi:
            if item.get("type") != "function":
                continue
            types = tuple(canonical_type(i) for i in item.get("inputs", []))
            signature = f"{item['name']}({','.join(types)})"
            spec = FunctionSpec(str(item["name"]), signature, keccak(text=signature)[:4], types)
            self._specs[signature] = spec
            if spec.name in self._specs:
                overloaded.add(spec.name)
            self._specs.setdefault(spec.name, spec)
        for name in overloaded:
            del self._specs[name]

    def spec(self, function: str) -> FunctionSpec:
        """The function named ``function`` (or with that signature); ``KeyError`` if there is no such function or
        the name is overloaded."""
        return self._specs[function]

    def selector(self, function: str) -> bytes:
        return self._specs[function].selector

    def encode(self, function: str, args: Sequence[Any]) -> bytes:
        """The calldata of ``function(*args)``; ``eth_abi`` raises its ``EncodingError`` for a value that does not
        fit its type."""
        spec = self._specs[function]
        return spec.selector + abi_encode(spec.types, args)


@cache
def meter_call_encoder() -> CallEncoder:
    """The encoder for the shipped Meter ABI (built once)."""
    return CallEncoder(abi())
