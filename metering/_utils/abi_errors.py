"""Decode revert data into :class:`~metering.errors.ContractRevertError` with a message a person can act on.

A reverted call returns only bytes: a 4-byte selector and ABI-encoded arguments. The selector is looked up among
the ``error`` entries of an ABI (the Meter's, which also lists OpenZeppelin's ``AccessControl*`` errors), plus
Solidity's built-in ``Error(string)`` and ``Panic(uint256)``. The decoded arguments are kept as Python values
(checksummed addresses, ``bytes``, ``int``) in ``ContractRevertError.args_``; the message renders them for people
(hex, role names, enum names) and adds what to do next.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from metering.contract import InstanceStatus, abi
from metering.errors import ContractRevertError

__all__ = [
    "ROLE_NAMES",
    "ErrorDecoder",
    "meter_error_decoder",
    "revert_data_from_exception",
]

#: Role hashes of the Meter, so that messages say ``AGENT_ROLE`` rather than 32 bytes of hex.
ROLE_NAMES: dict[bytes, str] = {
    b"\0" * 32: "DEFAULT_ADMIN_ROLE",
    keccak(text="RULES_MANAGER_ROLE"): "RULES_MANAGER_ROLE",
    keccak(text="AGENT_ROLE"): "AGENT_ROLE",
}

_ERROR_STRING = keccak(text="Error(string)")[:4]
_PANIC = keccak(text="Panic(uint256)")[:4]

_PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array",
    0x31: "pop from an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an invalid internal function",
}


def _canonical_type(item: Mapping[str, Any]) -> str:
    """The ABI type as it appears in a signature: tuples expanded to ``(t1,t2)``."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in item.get("components", []))
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def _pythonic(kind: str, value: Any) -> Any:
    if kind == "address":
        return to_checksum_address(value)
    return value


@dataclass(frozen=True)
class _ErrorAbi:
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return ROLE_NAMES.get(value) or "0x" + value.hex()
    return str(value)


def _role(value: Any) -> str:
    return ROLE_NAMES.get(value, _render(value)) if isinstance(value, bytes) else str(value)


def _status(value: Any) -> str:
    try:
        return InstanceStatus(int(value)).name
    except ValueError:
        return str(value)


def _unauthorized(a: Mapping[str, Any]) -> str:
    role = _role(a["neededRole"])
    if role == "AGENT_ROLE":
        todo = "the provider's admin must grant it to this address before it can act as an agent"
    elif role == "RULES_MANAGER_ROLE":
        todo = "sign with the provider's key, or have the admin grant RULES_MANAGER_ROLE"
    else:
        todo = "sign with an account that holds it"
    return f"{a['account']} lacks {role}: {todo}"


def _currency(raw: Any) -> str:
    """A bytes8 currency code as its letters (``EUR``), or its hex when it is not one."""
    data = bytes(raw).rstrip(b"\0")
    return data.decode("ascii") if data.isalpha() and data.isascii() else _render(raw)


#: Per error, the sentence that says what happened and what to do; errors without one are rendered generically.
_HINTS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "AccessControlUnauthorizedAccount": _unauthorized,
    "AccessControlEnforcedDefaultAdminDelay": lambda a: f"the admin transfer can be accepted from {a['schedule']} "
    "(unix seconds) on, when the admin delay has passed: try again then (`metering role show` shows it)",
    "AccessControlInvalidDefaultAdmin": lambda a: f"{a['defaultAdmin']} is not the pending admin: only the address "
    "the transfer was begun for may accept it (`metering role show`)",
    "AccessControlEnforcedDefaultAdminRules": lambda a: "the admin role moves only by the two-step transfer: "
    "`metering role begin-admin-transfer`, then `metering role accept-admin` with the new admin's key",
    "MeteringZeroLease": lambda a: f"instance {_render(a['instanceId'])}: a lease of 0 s was asked for: use at "
    "least 1 s",
    "MeteringInvalidCustomer": lambda a: f"{a['customer']} is not a customer that can be billed (zero address, "
    "or never enrolled): enroll it first",
    "MeteringInvalidTimeframe": lambda a: f"timeframe end {a['end']} is not after its start {a['start']}",
    "MeteringTimeframeStartsInPast": lambda a: f"timeframe start {a['start']} is not after the chain's time "
    f"{a['currentTime']}: choose a start in the future",
    "MeteringTimeframeOverlap": lambda a: f"timeframe start {a['start']} is before the previous timeframe's end "
    f"{a['previousEnd']}: timeframes may not overlap",
    "MeteringTimeframeIdsExhausted": lambda a: "all 65,535 timeframe ids are used: deploy a new contract",
    "MeteringUnknownTimeframe": lambda a: f"timeframe {a['timeframe']} does not exist: create it first "
    "(ids count up from 1)",
    "MeteringRulesFrozen": lambda a: f"the rules of timeframe {a['timeframe']} are frozen since it started at "
    f"{a['startedAt']}: set rules for a later timeframe",
    "MeteringReplayLeaseMismatch": lambda a: f"request {_render(a['instanceId'])} was decided with another lease "
    f"length than {a['leaseSeconds']} s: a retry must repeat the whole request, or use the seat's next generation",
    "MeteringCapCurrencyMismatch": lambda a: f"the cap is in {_currency(a['capCurrency'])} but the timeframe it "
    f"would bound is priced in {_currency(a['timeframeCurrency'])}: give the cap in "
    f"{_currency(a['timeframeCurrency'])}",
    "MeteringNotInstanceCustomer": lambda a: f"{a['caller']} is not the customer instance "
    f"{_render(a['instanceId'])} is billed to: only that customer may stop it",
    "MeteringRequestMismatch": lambda a: f"request {_render(a['instanceId'])} was decided for customer "
    f"{a['recordedCustomer']} and type {a['recordedType']}: a retry must repeat the same request, a new request "
    "takes a new request id",
    "MeteringUnexpectedGeneration": lambda a: f"request {_render(a['instanceId'])} is not the next request of its "
    f"seat (generation {a['currentGeneration'] + 1}, or the current one to replay): let the agent choose request "
    "ids, or read the seat first",
    "MeteringSeatBusy": lambda a: f"the seat still holds instance {_render(a['occupant'])} until {a['leaseEnd']}: "
    "use another seat, or stop that instance first",
    "MeteringNotInstanceHolder": lambda a: f"{a['caller']} may not renew or stop instance "
    f"{_render(a['instanceId'])}: only the agent that requested it may (the provider can close it)",
    "MeteringNotCustomer": lambda a: f"{a['caller']} is not an enrolled customer: only a customer approves agents "
    "and caps its own spending, with its own key",
    "MeteringInvalidCurrency": lambda a: f"currency {_render(a['currency'])} is not 3 upper-case letters: use an "
    "ISO 4217 code such as EUR",
    "MeteringInvalidRules": lambda a: f"rules need a time unit of at least 1 s (got {a['timeUnitSeconds']}) and at "
    f"most {a['max']} concurrent instances (got {a['maxConcurrent']})",
    "MeteringZeroInvoiceHash": lambda a: "an invoice hash of zero would read as 'not anchored': hash the invoice",
    "MeteringInstanceNotOpen": lambda a: f"instance {_render(a['instanceId'])} is not running "
    f"(status {_status(a['status'])})",
    "MeteringBatchTooLarge": lambda a: f"a batch of {a['size']} is larger than the contract's maximum of {a['max']}",
    "MeteringTimeframeNotEnded": lambda a: f"timeframe {a['timeframe']} ends at {a['end']}: invoices can be "
    "anchored only after that",
    "MeteringInvoiceAlreadyAnchored": lambda a: f"an invoice {_render(a['invoiceHash'])} is already anchored for "
    f"{a['customer']} in timeframe {a['timeframe']}: correct it instead",
    "MeteringInvoiceNotAnchored": lambda a: f"no invoice is anchored for {a['customer']} in timeframe "
    f"{a['timeframe']}: anchor one first",
    "SafeCastOverflowedUintDowncast": lambda a: f"value {a['value']} does not fit in uint{a['bits']}",
}


class ErrorDecoder:
    """Maps revert data to a :class:`ContractRevertError` using the ``error`` entries of ``contract_abi``."""

    def __init__(self, contract_abi: Sequence[Mapping[str, Any]]) -> None:
        self._errors: dict[bytes, _ErrorAbi] = {}
        for item in contract_abi:
            if item.get("type") != "error":
                continue
            inputs = item.get("inputs", [])
            types = tuple(_canonical_type(i) for i in inputs)
            names = tuple(str(i.get("name") or f"arg{n}") for n, i in enumerate(inputs))
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            self._errors[selector] = _ErrorAbi(str(item["name"]), names, types)

    def decode(self, data: bytes | str | None, *, tx_hash: str | None = None) -> ContractRevertError | None:
        """The error encoded in ``data``, or ``None`` if there is no data or it matches no known error."""
        raw = _as_bytes(data)
        if raw is None or len(raw) < 4:
            return None
        selector, body = raw[:4], raw[4:]
        try:
            if selector == _ERROR_STRING:
                (reason,) = decode(["string"], body)
                return ContractRevertError(
                    "Error", {"reason": reason}, message=f"contract reverted: {reason}", tx_hash=tx_hash
                )
            if selector == _PANIC:
                (code,) = decode(["uint256"], body)
                what = _PANIC_CODES.get(code, "unknown panic")
                return ContractRevertError(
                    "Panic", {"code": code}, message=f"contract panicked: {what} (code {code:#x})", tx_hash=tx_hash
                )
            spec = self._errors.get(selector)
            if spec is None:
                return None
            values = decode(list(spec.types), body)
        except Exception:  # malformed revert data: report it as unknown rather than crash
            return None
        args = {n: _pythonic(t, v) for n, t, v in zip(spec.names, spec.types, values, strict=True)}
        hint = _HINTS.get(spec.name)
        rendered = ", ".join(f"{k}={_render(v)}" for k, v in args.items())
        message = f"contract reverted: {spec.name}({rendered})"
        if hint is not None:
            message += f": {hint(args)}"
        return ContractRevertError(spec.name, args, message=message, tx_hash=tx_hash)


def _as_bytes(data: bytes | str | None) -> bytes | None:
    if data is None:
        return None
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith(("0x", "0X")) else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def revert_data_from_exception(exc: BaseException) -> bytes | None:
    """The raw revert data a web3 exception carries, if any.

    web3 7 and 8 put it in ``ContractLogicError.data``: a hex string from anvil and geth, but the node's whole
    ``error.data`` object from others: Hardhat's ``{"message", "data": "0x..."}`` and Ganache's ``eth_estimateGas``
    ``{"result": "0x...", "programCounter", ...}``. An RPC error may carry it in the JSON-RPC ``error.data`` field
    instead. Last, Hardhat writes it into the message (``... custom error (return data: 0x...)``).
    """
    data = getattr(exc, "data", None)
    found = _data_of(data)
    if found:
        return found
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, Mapping):
        error = response.get("error")
        if isinstance(error, Mapping):
            found = _data_of(error.get("data"))
            if found:
                return found
    match = _RETURN_DATA.search(str(exc))
    return bytes.fromhex(match.group(1)) if match else None


#: Hardhat's message for a custom error it cannot name: ``... (return data: 0xe2517d3f...)``.
_RETURN_DATA = re.compile(r"return data: 0x((?:[0-9a-fA-F]{2})+)")


def _data_of(value: Any) -> bytes | None:
    """Revert bytes from an ``error.data`` value: hex text, or an object holding it under ``data`` (Hardhat,
    and some proxies: ``{"data": {"data": "0x..."}}``) or ``result`` (Ganache)."""
    for _ in range(3):  # a few levels of wrapping at most
        if isinstance(value, Mapping):
            value = value.get("data", value.get("result"))
            continue
        break
    if isinstance(value, str | bytes):
        return _as_bytes(value) or None  # None for text that is not hex (a message)
    return None


@cache
def meter_error_decoder() -> ErrorDecoder:
    """The decoder for the shipped Meter ABI (built once)."""
    return ErrorDecoder(abi())
