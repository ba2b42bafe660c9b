"""Connect to a node and to a deployed Meter, failing early with a message that says what to do.

Everything else in ``metering`` takes a ready :class:`~web3.Web3` and a contract from here, so a wrong URL or a
wrong address is reported once, at the start, instead of as a confusing error deep inside the first transaction.

>>> w3 = connect("http://127.0.0.1:8545")              # doctest: +SKIP
>>> meter = meter_contract(w3, "0x5FbDB2315678afecb367f032d93F642f64180aa3")   # doctest: +SKIP
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING, cast
from urllib.parse import urlparse

from metering.chain.probe import probe_chain_id
from metering.errors import ConfigError, RpcUnavailableError

if TYPE_CHECKING:  # web3 costs over a second to import: it waits until a connection is made (see the CLI's test)
    from eth_typing import ABI, ChecksumAddress
    from web3 import Web3
    from web3.contract import Contract

__all__ = [
    "DEFAULT_TIMEOUT",
    "chain_time",
    "check_meter_code",
    "checksum",
    "connect",
    "looks_like_meter",
    "meter_contract",
]

#: Seconds one JSON-RPC request may take before it counts as failed (and may be retried by the sender).
DEFAULT_TIMEOUT = 30.0



def checksum(address: object, *, what: str = "address") -> ChecksumAddress:
    """``address`` checksummed, or :class:`ConfigError` ``not an address: ...`` naming ``what`` it was for.

    Lower-case and upper-case hex are accepted; a mixed-case address must have a valid checksum, because a wrong
    checksum usually means a typo.
    """
    if isinstance(address, str):
        checked = _checksummed(address)
        if checked is not None:
            digits = address[2:] if address.startswith(("0x", "0X")) else address
            if digits != digits.lower() and digits != digits.upper() and checked != address:
                # web3's is_address accepts any mixed case; EIP-55 says a mixed-case address carries a checksum
                for_what = "" if what == "address" else f" (for {what})"
                raise ConfigError(
                    f"wrong EIP-55 checksum in {address}{for_what}: check it for a typo, or give it all lower-case"
                )
            return checked
    shown = address if isinstance(address, str) else repr(address)
    if what == "address":
        raise ConfigError(f"not an address: {shown}")
    raise ConfigError(f"not an address: {shown} (for {what})")


@lru_cache(maxsize=65_536)
def _checksummed(address: str) -> ChecksumAddress | None:
    """Checksumming costs a keccak; agents see the same few customers again and again. (eth_utils' functions, which
    web3's ``Web3.is_address`` and ``to_checksum_address`` are, without importing web3.)"""
    from eth_utils.address import is_address, to_checksum_address

    return to_checksum_address(address) if is_address(address) else None


def connect(rpc_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Web3:
    """A :class:`Web3` on the HTTP(S) JSON-RPC endpoint ``rpc_url``, after checking that a node answers there.

    Chains whose blocks carry proof-of-authority extra data (longer than 32 bytes) get web3's POA middleware, so
    reading blocks works on them too.

    :raises ConfigError: ``rpc_url`` is not an ``http://`` or ``https://`` URL.
    :raises RpcUnavailableError: nothing answers at ``rpc_url``, or not a JSON-RPC node (see :mod:`.probe`).
    """
    from web3 import Web3
    from web3.exceptions import ExtraDataLengthError, Web3Exception
    from web3.middleware import ExtraDataToPOAMiddleware

    parsed = urlparse(rpc_url)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ConfigError(f"not an RPC URL: {rpc_url!r} (expected http://host:port or https://...)")
    probe_chain_id(rpc_url, timeout)  # a refusal, a silence, an HTML page... each named, within ``timeout``
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.get_block("latest")
    except ExtraDataLengthError:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    except (OSError, Web3Exception, ValueError) as exc:
        raise RpcUnavailableError(f"the node at {rpc_url} does not serve blocks: {_short(exc)}") from exc
    return w3


def meter_contract(w3: Web3, address: str) -> Contract:
    """The Meter at ``address``, with the ABI shipped in the package.

    :raises ConfigError: ``address`` is malformed, or no contract code is deployed there on this chain.
    """
    from web3.exceptions import Web3Exception

    from metering._utils.rpc_retry import retry_transient
    from metering.contract import abi

    checked = checksum(address, what="the Meter contract")
    try:
        code = retry_transient(lambda: w3.eth.get_code(checked), "eth_getCode")
        chain_id = retry_transient(lambda: w3.eth.chain_id, "eth_chainId")
    except (OSError, Web3Exception) as exc:
        raise RpcUnavailableError(f"the node stopped answering while reading {checked}: {_short(exc)}") from exc
    check_meter_code(checked, bytes(code), int(chain_id))
    return w3.eth.contract(address=checked, abi=cast("ABI", abi()))


def check_meter_code(address: str, code: bytes, chain_id: int) -> None:
    """:class:`ConfigError` unless ``code`` (read at ``address`` on chain ``chain_id``) is a Meter's: the one
    check of web3's :func:`meter_contract` and the CLI's lean reads (:mod:`metering.chain.lean`)."""
    if len(code) == 0:
        raise ConfigError(
            f"no contract code at {address} on chain {chain_id}: check the Meter's address (METERING_CONTRACT) "
            "and the RPC URL, or deploy a Meter first"
        )
    if not looks_like_meter(code):
        raise ConfigError(
            f"the contract at {address} on chain {chain_id} is not a Meter (its code has none of the Meter's "
            "functions): check the Meter's address (METERING_CONTRACT); `metering verify-source` compares a "
            "contract's code with the shipped builds"
        )


#: Functions every Meter build has had, and no other contract would have all of (the dispatcher of a Solidity
#: contract compares the call's selector with each of its functions' as a PUSH4 constant in the runtime code).
_FINGERPRINT = ("RULES_MANAGER_ROLE()", "timeframeCount()", "activeTimeframe()", "AGENT_ROLE()")


def looks_like_meter(runtime_code: bytes) -> bool:
    """Whether deployed code dispatches the Meter's functions: a local check of the code already read, no call.

    It tells a Meter (any build, old ones included) from another contract at a mistyped address, a token or an
    account's code; whether it is exactly a shipped build is ``metering verify-source``'s question.
    """
    return all(b"\x63" + _selector(signature) in runtime_code for signature in _FINGERPRINT)


@cache
def _selector(signature: str) -> bytes:
    from eth_utils.crypto import keccak

    return bytes(keccak(text=signature)[:4])


def chain_time(w3: Web3) -> int:
    """The timestamp of the latest block: the clock the contract decides by (it follows anvil's time travel).

    Transient failures are retried; :class:`RpcUnavailableError` when the node does not answer.
    """
    from metering._utils.rpc_retry import retry_transient

    block = retry_transient(lambda: w3.eth.get_block("latest"), "eth_getBlockByNumber")
    return int(block["timestamp"])


def _short(exc: BaseException) -> str:
    """The first line of an exception's message, for a one-line error."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
