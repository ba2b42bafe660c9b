"""Usage metering on an Ethereum-compatible chain.

Billing rules per timeframe are frozen on chain, activation requests are decided against on-chain usage
counters, and invoices are a pure function of the contract's events, so provider, customer and auditor compute
the same bill and any tampering shows.

>>> from metering import Agent, connect, load_signer   # doctest: +SKIP
>>> agent = Agent(connect("http://127.0.0.1:8545"), "0x...", load_signer())   # doctest: +SKIP
>>> agent.activate(customer, instance_type=1, lease_seconds=600)   # doctest: +SKIP
Granted(instance_id=b'...', lease_end=..., overage=False, ...)

Heavy modules (web3) load on first use of a name, so importing ``metering`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from metering.contract import CustomerStatus, DenialReason, InstanceStatus, LimitMode
from metering.errors import (
    ConfigError,
    ContractRevertError,
    IndexingError,
    InvoiceError,
    MeteringError,
    MissingDependencyError,
    NodeError,
    RpcUnavailableError,
    RulesFileError,
    SigningKeyError,
    StoreError,
    TransactionFailedError,
    TransactionTimeoutError,
    VerificationError,
)

if TYPE_CHECKING:
    from metering.agent import (
        ActivationRequest,
        Agent,
        ContinuationDenied,
        Continued,
        Deactivated,
        Denied,
        Expired,
        Granted,
        RenewalDenied,
        Renewed,
    )
    from metering.agent.keeper import LeaseKeeper
    from metering.audit.indexer import Indexer, IndexResult
    from metering.audit.invoice import Invoice, Line, compute_invoice, from_json, invoice_hash, to_csv, to_json
    from metering.audit.store import Store
    from metering.audit.verify import VerificationReport, verify_invoice
    from metering.chain import connect, meter_contract
    from metering.chain.accounts import create_keystore, load_signer
    from metering.chain.node import LocalNode
    from metering.chain.sender import TransactionSender
    from metering.provider import Provider
    from metering.provider.rules_file import RulesFile, load_rules_file
    from metering.types import Rules, Timeframe, Usage

__version__ = "0.1.0"

_LAZY = {
    "create_keystore": "chain.accounts", "load_signer": "chain.accounts",
    "ActivationRequest": "agent", "Agent": "agent", "ContinuationDenied": "agent", "Continued": "agent",
    "Deactivated": "agent", "Denied": "agent", "Expired": "agent", "Granted": "agent", "RenewalDenied": "agent",
    "Renewed": "agent",
    "connect": "chain", "meter_contract": "chain",
    "IndexResult": "audit.indexer", "Indexer": "audit.indexer",
    "Invoice": "audit.invoice", "Line": "audit.invoice", "compute_invoice": "audit.invoice",
    "from_json": "audit.invoice", "invoice_hash": "audit.invoice", "to_csv": "audit.invoice",
    "to_json": "audit.invoice",
    "LeaseKeeper": "agent.keeper",
    "LocalNode": "chain.node",
    "Provider": "provider",
    "RulesFile": "provider.rules_file", "load_rules_file": "provider.rules_file",
    "TransactionSender": "chain.sender",
    "Store": "audit.store",
    "Rules": "types", "Timeframe": "types", "Usage": "types",
    "VerificationReport": "audit.verify", "verify_invoice": "audit.verify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'metering' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"metering.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ActivationRequest",
    "Agent",
    "ConfigError",
    "ContinuationDenied",
    "Continued",
    "ContractRevertError",
    "CustomerStatus",
    "Deactivated",
    "DenialReason",
    "Denied",
    "Expired",
    "Granted",
    "IndexResult",
    "Indexer",
    "IndexingError",
    "InstanceStatus",
    "Invoice",
    "InvoiceError",
    "LeaseKeeper",
    "LimitMode",
    "Line",
    "LocalNode",
    "MeteringError",
    "MissingDependencyError",
    "NodeError",
    "Provider",
    "RenewalDenied",
    "Renewed",
    "RpcUnavailableError",
    "Rules",
    "RulesFile",
    "RulesFileError",
    "SigningKeyError",
    "Store",
    "StoreError",
    "Timeframe",
    "TransactionFailedError",
    "TransactionSender",
    "TransactionTimeoutError",
    "Usage",
    "VerificationError",
    "VerificationReport",
    "__version__",
    "compute_invoice",
    "connect",
    "create_keystore",
    "from_json",
    "invoice_hash",
    "load_rules_file",
    "load_signer",
    "meter_contract",
    "to_csv",
    "to_json",
    "verify_invoice",
]
