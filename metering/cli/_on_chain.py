"""One helper for what every chain command repeated: its options, its library object, its JSON-or-text ending,
and its "for each address, send, print the hash" loop.

A command that acts on the Meter declares only what is its own, and takes an :class:`OnChain` first::

    @customer_app.command("approve")
    @on_chain(signs=True, json=False)
    def customer_approve(on: OnChain, agents: Annotated[list[str], typer.Argument(...)]) -> None:
        me = on.build(Customer)
        for_each(_addresses(agents, "agent"), me.approve_agent, lambda c: f"{c.customer} approves {c.agent}")

:func:`on_chain` adds ``-r/--rpc-url``, ``--contract``, ``--keystore`` (with ``signs``) and ``--json`` (with
``json``) to the command's signature, with their environment variables and profile keys, and runs the body under
:func:`~metering.cli._common.command` (one error line, the right exit code). Typer reads the signature, so the
options look exactly as if each command had spelled them out.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, get_type_hints

from metering.cli._common import (
    DEFAULT_RPC_URL,
    ConfirmationsOpt,
    ContractOpt,
    DbOpt,
    FromBlockOpt,
    JsonOpt,
    KeystoreOpt,
    RpcUrlOpt,
    command,
    connect,
    console,
    new_sender,
    open_store,
    print_json,
    require_contract,
    rpc_timeout,
    signer,
    sync_store,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from metering.audit.indexer import IndexResult
    from metering.audit.store import Store
    from metering.chain.lean import LeanMeter, LeanNode
    from metering.chain.sender import TransactionSender

__all__ = ["ZERO_ADDRESS", "OnChain", "checked_addresses", "for_each", "on_chain"]

#: Nobody's address: an unset variable or a placeholder copied from a document, never a customer, agent or admin.
ZERO_ADDRESS = "0x" + "0" * 40

T = TypeVar("T")
R = TypeVar("R")
B = TypeVar("B", covariant=True)


class _Bound(Protocol[B]):
    """A library class bound to a Meter: Provider, Customer, Agent, Roles... (``signer`` None: read only)."""

    def __call__(self, w3: Web3, contract: str, signer: LocalAccount | None, /, *,
                 sender: TransactionSender | None = ...) -> B: ...


@dataclass(frozen=True)
class OnChain:
    """Where a command acts (node, Meter, signer) and how it answers (``--json`` or text)."""

    rpc_url: str = DEFAULT_RPC_URL
    contract: str | None = None
    keystore: Path | None = None
    json: bool = False
    db: Path | None = None
    confirmations: int = 0
    from_block: int | None = None

    @cached_property
    def w3(self) -> Web3:
        """The node, connected once (a wrong URL fails here, before anything else)."""
        return connect(self.rpc_url)

    @cached_property
    def node(self) -> LeanNode:
        """The node for reads, without web3 (issue 20: a read command answers in a fraction of a second); a wrong
        URL fails here as it does for :attr:`w3`."""
        from metering.chain.lean import lean_connect

        return lean_connect(self.rpc_url, timeout=rpc_timeout())

    def reader(self) -> LeanMeter:
        """The Meter's typed reads (:class:`~metering._utils.reads.MeterReads`) over :attr:`node`, after the checks
        of :meth:`build` (an address, a Meter's code there)."""
        from metering.chain.lean import LeanMeter

        node = self.node
        return LeanMeter.at(node, self.address)

    def signer(self) -> LocalAccount:
        """The command's signing account (``--keystore``, else METERING_PRIVATE_KEY)."""
        return signer(self.keystore)

    @property
    def address(self) -> str:
        """The Meter's address, or the "no contract address" error naming METERING_CONTRACT."""
        return require_contract(self.contract)

    def build(self, cls: _Bound[T], *, read_only: bool = False) -> T:
        """``cls`` on this node and Meter, signing with the command's key (none when ``read_only``)."""
        w3 = self.w3
        address = self.address
        if read_only:
            return cls(w3, address, None)
        account = signer(self.keystore)
        return cls(w3, address, account, sender=new_sender(w3, account))

    @contextmanager
    def indexed(self, *, quiet: bool = True, lean: bool = False) -> Iterator[tuple[Store, IndexResult]]:
        """The event database of this chain and Meter, brought up to date first (``--db``, ``--confirmations``,
        ``--from-block``); what the sync did comes with it. ``lean``: read through :attr:`node`, without web3."""
        node: Web3 | LeanNode = self.node if lean else self.w3
        with open_store(node, self.address, self.db) as store:
            yield store, sync_store(node, self.address, store, self.confirmations, quiet=quiet,
                                    from_block=self.from_block)

    def answer(self, data: Any) -> bool:
        """With ``--json``, print ``data`` and return True (the command is done); else return False."""
        if self.json:
            print_json(data)
        return self.json


def checked_addresses(values: Iterable[str], what: str) -> list[str]:
    """Every address checked (EIP-55, not the zero address) before anything is sent, so that a typo in the last
    one sends nothing."""
    from metering.chain import checksum
    from metering.errors import ConfigError

    checked: list[str] = [checksum(v, what=what) for v in values]
    if ZERO_ADDRESS in checked:
        raise ConfigError(f"the zero address {ZERO_ADDRESS} is not a {what}: check the address")
    return checked


def for_each(items: Iterable[T], act: Callable[[T], R], line: Callable[[R], str]) -> list[R]:
    """Act on each item in turn (each a transaction), printing a line for each as soon as it is done.

    The items are checked by the caller before the first one is sent, so a typo in the last one sends nothing.
    """
    done: list[R] = []
    for item in items:
        result = act(item)
        console.print(f"  {line(result)}", highlight=False, soft_wrap=True)
        done.append(result)
    return done


def on_chain(
    *, signs: bool = False, json: bool = True, indexes: bool = False, meter: bool = True
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Give a command ``fn(on: OnChain, ...)`` the shared options, in this order after its own (see the module);
    ``indexes`` adds the event database's ``--db``, ``--confirmations`` and ``--from-block``; ``meter=False``
    leaves out ``--contract`` (a command about the node, or one that deploys)."""
    shared: list[tuple[str, Any, Any]] = [("rpc_url", RpcUrlOpt, DEFAULT_RPC_URL)]
    if meter:
        shared.append(("contract", ContractOpt, None))
    if signs:
        shared.append(("keystore", KeystoreOpt, None))
    if indexes:
        shared += [("db", DbOpt, None), ("confirmations", ConfirmationsOpt, 0), ("from_block", FromBlockOpt, None)]
    if json:
        shared.append(("json_out", JsonOpt, False))

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        own = list(inspect.signature(fn).parameters.values())[1:]  # without ``on``
        hints = get_type_hints(fn, include_extras=True)
        params = [p.replace(annotation=hints[p.name]) for p in own]
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
                   for name, annotation, default in shared]

        @functools.wraps(fn)
        def run(**kwargs: Any) -> R:
            on = OnChain(rpc_url=kwargs.pop("rpc_url"), contract=kwargs.pop("contract", None),
                         keystore=kwargs.pop("keystore", None), json=bool(kwargs.pop("json_out", False)),
                         db=kwargs.pop("db", None), confirmations=kwargs.pop("confirmations", 0),
                         from_block=kwargs.pop("from_block", None))
            return fn(on, **kwargs)

        run.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        del run.__wrapped__  # Typer must read this signature, not fn's
        return command(run)

    return decorate
