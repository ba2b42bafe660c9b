"""The exceptions of ``metering``: one base class, and specific ones a caller can act on.

Like web3.py's, specific errors also subclass the built-in they resemble (``ValueError``, ``ConnectionError``,
``TimeoutError``), so callers may catch either. Messages say what to do next, because the CLI prints them as they
are (one line, no traceback).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "ContractRevertError",
    "DirectoryError",
    "EventDecodeError",
    "IndexingError",
    "InvoiceError",
    "MeteringError",
    "MissingDependencyError",
    "NodeError",
    "NumberingError",
    "RangeTakenError",
    "RpcUnavailableError",
    "RulesFileError",
    "SigningKeyError",
    "StoreError",
    "TransactionFailedError",
    "TransactionTimeoutError",
    "UnsupportedEvmTargetError",
    "VerificationError",
]


class MeteringError(Exception):
    """Base class of every error raised by ``metering``."""


class MissingDependencyError(MeteringError, ImportError):
    """An optional dependency is not installed: ``pip install metering`` is the library only, and the command line
    and YAML rules files need ``pip install "metering[cli]"``."""


class ConfigError(MeteringError, ValueError):
    """A setting is missing or malformed (RPC URL, contract address, database path...)."""


class SigningKeyError(MeteringError, ValueError):
    """No signing key could be loaded (keystore, password or environment variable)."""


class NodeError(MeteringError, RuntimeError):
    """A local anvil node could not be found, started or reached."""


class RpcUnavailableError(MeteringError, ConnectionError):
    """The JSON-RPC endpoint did not answer (wrong URL, node down, network error)."""


class TransactionFailedError(MeteringError, RuntimeError):
    """A transaction could not be sent or was mined but failed (e.g. insufficient funds)."""

    def __init__(self, message: str, *, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class ContractRevertError(TransactionFailedError):
    """The contract reverted with a named custom error; ``name`` and ``args`` are decoded from the revert data."""

    def __init__(
        self, name: str, args: dict[str, Any], *, message: str | None = None, tx_hash: str | None = None
    ) -> None:
        rendered = ", ".join(f"{k}={v}" for k, v in args.items())
        super().__init__(message or f"contract reverted: {name}({rendered})", tx_hash=tx_hash)
        self.name = name
        self.args_ = args


class TransactionTimeoutError(TransactionFailedError, TimeoutError):
    """A transaction was sent but no receipt arrived in time; it may still be mined."""


class UnsupportedEvmTargetError(ConfigError):
    """The node's EVM is older than the build asked for (e.g. Cancun bytecode on a Paris node)."""
class EventDecodeError(MeteringError, ValueError):
    """A log carries a known event's topic but its topics or data do not decode as that event."""


class RulesFileError(MeteringError, ValueError):
    """A rules file is malformed; the message names the file and the field."""


class InvoiceError(MeteringError, ValueError):
    """An invoice cannot be computed or read (unknown timeframe, malformed invoice file...)."""


class VerificationError(MeteringError):
    """Verification could not run (as opposed to running and finding differences)."""


class StoreError(MeteringError, ValueError):
    """The event database cannot be used: it belongs to another chain or contract, or has an unknown schema."""


class RangeTakenError(StoreError):
    """Another indexer stored this block range (or a reorganised chain under it) first: continue from the cursor."""


class IndexingError(MeteringError, RuntimeError):
    """The indexer could not read the chain's logs (the node refused even a one-block range, or answered nonsense)."""


class DirectoryError(MeteringError, ValueError):
    """A provider's directory file is malformed; ``problems`` holds one line per error, each naming the file and
    the field, and the message is those lines (so nothing is issued from half a directory)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


class NumberingError(MeteringError, RuntimeError):
    """An invoice number could not be reserved or read (the numbers file is unusable or belongs to another seller)."""


class WatchConfigError(ConfigError):
    """A watch rules file is wrong: an unknown rule kind or sink, a missing webhook secret, a bad percentage."""


class DeliveryError(MeteringError, RuntimeError):
    """A sink did not accept a notification (HTTP status, timeout, command exit code); the outbox retries it."""
