"""Calldata with precomputed selectors, without web3's contract machinery and mostly without eth_abi.

``contract.encode_abi(name, args)`` finds the function among the ABI's overloads, checks and normalises every
argument against its type and builds the codecs again, on every call: for one ``requestActivation`` that is most of
the encoding time; and eth_abi's generic encoders take ten times as long as writing the words directly for the
entries of a ``requestActivations`` batch. So each function is compiled once from the ABI: its selector, and for
arguments made of single-word values (``uintN``, ``intN``, ``address``, ``bool``, ``bytesN``), static tuples of
them and dynamic arrays of either, a plan that writes the 32-byte words directly, validating each value as eth_abi
does (range, length, address form). Any other argument type (``string``, ``bytes``, nested arrays...) makes that
function go through ``eth_abi.encode``. Invalid values raise eth_abi's ``EncodingError`` subclasses either way.
Overloaded functions are addressed by their signature (``"f(uint256)"``), a unique name by its name alone.

>>> encoder = meter_call_encoder()                                               # doctest: +SKIP
>>> data = encoder.encode("deactivate", [instance_id])                           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import EncodingTypeError, ValueOutOfBounds
from eth_utils.address import is_address, to_canonical_address
from eth_utils.crypto import keccak

from metering._utils.logdecode import canonical_type
from metering.contract import abi

__all__ = ["CallEncoder", "FunctionSpec", "meter_call_encoder"]


_Word = Callable[[Any], bytes]
_ADDRESSES: dict[str, bytes] = {}
_ADDRESS_CACHE_SIZE = 65_536


def _address(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray) and len(value) == 20:
        return bytes(12) + bytes(value)
    if isinstance(value, str):
        raw = _ADDRESSES.get(value)
        if raw is None:
            if not is_address(value):  # what eth_abi accepts as an address
                raise EncodingTypeError(f"not an address: {value!r}")
            if len(_ADDRESSES) >= _ADDRESS_CACHE_SIZE:
                _ADDRESSES.clear()
            raw = _ADDRESSES[value] = to_canonical_address(value)
        return bytes(12) + raw
    raise EncodingTypeError(f"not an address: {value!r}")


def _word_encoder(kind: str) -> _Word | None:
    """The encoder of a type held in one 32-byte word, or ``None`` for any other type."""
    if kind == "address":
        return _address
    if kind == "bool":
        def boolean(value: Any) -> bytes:
            if not isinstance(value, bool):
                raise EncodingTypeError(f"bool expected, got {value!r}")
            return (b"\0" * 31) + (b"\1" if value else b"\0")
        return boolean
    if kind.startswith("uint") and kind[4:].isdigit():
        limit = 1 << int(kind[4:])

        def unsigned(value: Any) -> bytes:
            if not isinstance(value, int) or isinstance(value, bool):
                raise EncodingTypeError(f"{kind} expected, got {value!r}")
            if not 0 <= value < limit:
                raise ValueOutOfBounds(f"{value} does not fit {kind}")
            return value.to_bytes(32, "big")
        return unsigned
    if kind.startswith("int") and kind[3:].isdigit():
        bound = 1 << (int(kind[3:]) - 1)

        def signed(value: Any) -> bytes:
            if not isinstance(value, int) or isinstance(value, bool):
                raise EncodingTypeError(f"{kind} expected, got {value!r}")
            if not -bound <= value < bound:
                raise ValueOutOfBounds(f"{value} does not fit {kind}")
            return value.to_bytes(32, "big", signed=True)
        return signed
    if kind.startswith("bytes") and kind[5:].isdigit():
        size = int(kind[5:])

        def fixed_bytes(value: Any) -> bytes:
            if not isinstance(value, bytes | bytearray):
                raise EncodingTypeError(f"{kind} expected, got {value!r}")
            if len(value) > size:
                raise ValueOutOfBounds(f"{len(value)} bytes exceed {kind}")
            return bytes(value).ljust(32, b"\0")
        return fixed_bytes
    return None


def _static_tuple(item: Mapping[str, Any]) -> tuple[_Word, ...] | None:
    """The word encoders of a tuple made of single-word values, or ``None``."""
    if item.get("type") != "tuple":
        return None
    words = [_word_encoder(canonical_type(c)) for c in item.get("components", [])]
    return tuple(w for w in words if w is not None) if all(w is not None for w in words) else None


def _list_of(value: Any, size: int | None, what: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple) or (size is not None and len(value) != size):
        raise EncodingTypeError(f"{what} expected, got {value!r}")
    return value


@dataclass(frozen=True)
class _Arg:
    """How one argument is written: ``words`` per value (one, or a static tuple's), inline or as a dynamic array."""

    words: tuple[_Word, ...]
    array: bool
    is_tuple: bool

    def items(self, value: Any) -> bytes:
        if not self.is_tuple:
            return self.words[0](value)
        values = _list_of(value, len(self.words), "a tuple")
        return b"".join(w(v) for w, v in zip(self.words, values, strict=True))


def _plan(inputs: Sequence[Mapping[str, Any]]) -> tuple[_Arg, ...] | None:
    plan = []
    for item in inputs:
        kind = canonical_type(item)
        array = kind.endswith("[]") and "[" not in kind[:-2]
        element = {**item, "type": str(item["type"])[:-2]} if array else item
        single = _word_encoder(canonical_type(element))
        words = (single,) if single is not None else _static_tuple(element)
        if words is None:
            return None
        plan.append(_Arg(words, array, single is None))
    return tuple(plan)


@dataclass(frozen=True)
class FunctionSpec:
    """One function of an ABI: its signature, 4-byte selector, argument types and (when it has one) its plan."""

    name: str
    signature: str
    selector: bytes
    types: tuple[str, ...]
    plan: tuple[_Arg, ...] | None = None

    def encode(self, args: Sequence[Any]) -> bytes:
        if self.plan is None:
            return self.selector + abi_encode(self.types, args)
        if len(args) != len(self.plan):
            raise EncodingTypeError(f"{self.signature} takes {len(self.plan)} arguments, got {len(args)}")
        heads: list[bytes] = []
        tails: list[bytes] = []
        offset = 32 * sum(1 if arg.array else len(arg.words) for arg in self.plan)
        for arg, value in zip(self.plan, args, strict=True):
            if not arg.array:
                heads.append(arg.items(value))
                continue
            items = _list_of(value, None, "a list")
            tail = len(items).to_bytes(32, "big") + b"".join(arg.items(v) for v in items)
            heads.append(offset.to_bytes(32, "big"))
            tails.append(tail)
            offset += len(tail)
        return self.selector + b"".join(heads) + b"".join(tails)


class CallEncoder:
    """Every function of ``contract_abi`` with its selector computed once."""

    def __init__(self, contract_abi: Iterable[Mapping[str, Any]]) -> None:
        self._specs: dict[str, FunctionSpec] = {}
        overloaded: set[str] = set()
        for item in contract_abi:
            if item.get("type") != "function":
                continue
            inputs = item.get("inputs", [])
            types = tuple(canonical_type(i) for i in inputs)
            signature = f"{item['name']}({','.join(types)})"
            spec = FunctionSpec(str(item["name"]), signature, keccak(text=signature)[:4], types, _plan(inputs))
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
        """The calldata of ``function(*args)``; a value that does not fit its type raises eth_abi's
        ``EncodingError``."""
        return self._specs[function].encode(args)


@cache
def meter_call_encoder() -> CallEncoder:
    """The encoder for the shipped Meter ABI (built once)."""
    return CallEncoder(abi())
