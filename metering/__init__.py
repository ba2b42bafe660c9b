"""Usage metering on an Ethereum-compatible chain.

Billing rules per timeframe are frozen on chain, activation requests are decided against on-chain usage
counters, and invoices are a pure function of the contract's events, so provider, customer and auditor compute
the same bill and any tampering shows.
"""

from metering.contract import CustomerStatus, DenialReason, InstanceStatus, LimitMode
from metering.errors import (
    ConfigError,
    ContractRevertError,
    InvoiceError,
    MeteringError,
    NodeError,
    RpcUnavailableError,
    RulesFileError,
    SigningKeyError,
    TransactionFailedError,
    TransactionTimeoutError,
    VerificationError,
)
from metering.node import LocalNode

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ContractRevertError",
    "CustomerStatus",
    "DenialReason",
    "InstanceStatus",
    "InvoiceError",
    "LimitMode",
    "LocalNode",
    "MeteringError",
    "NodeError",
    "RpcUnavailableError",
    "RulesFileError",
    "SigningKeyError",
    "TransactionFailedError",
    "TransactionTimeoutError",
    "VerificationError",
    "__version__",
]
