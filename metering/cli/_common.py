"""What every ``metering`` command shares: options with environment fallbacks, error handling, output.

A user mistake ends with one line on stderr and a documented exit code, never a traceback: every command body
runs inside :func:`command`, which turns our exceptions into those lines. Heavy imports (web3) wait until a
command runs, so ``--help`` stays instant.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from metering.cli._exit_codes import ExitCode
from metering.cli._json_errors import print_json_error
from metering.cli._progress import new_sender, showing_progress
from metering.errors import (
    ConfigError,
    ContractRevertError,
    MeteringError,
    NodeError,
    RpcUnavailableError,
    TransactionFailedError,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from rich.table import Table
    from web3 import Web3

    from metering.audit.indexer import IndexResult
    from metering.audit.store import Store
    from metering.chain.lean import LeanNode

__all__ = [
    "DEFAULT_RPC_URL",
    "UINT16_MAX",
    "ContractOpt",
    "DbOpt",
    "ExitCode",
    "FromBlockOpt",
    "JsonOpt",
    "KeystoreOpt",
    "RpcUrlOpt",
    "chain_id_of",
    "command",
    "console",
    "err_console",
    "first_block",
    "new_sender",
    "print_json",
]

console = Console(soft_wrap=True)  # ids, hashes and URLs are never broken over lines (they must copy whole)
err_console = Console(stderr=True, soft_wrap=True)


DEFAULT_RPC_URL = "http://127.0.0.1:8545"
UINT16_MAX = 2**16 - 1  # timeframe and instance type ids are uint16 on chain

#: Environment variables, as Foundry's cast reads them (ETH_*) and ours (METERING_*): the first set one wins.
RPC_URL_ENV = "ETH_RPC_URL"
KEYSTORE_ENVS = ["ETH_KEYSTORE", "METERING_KEYSTORE"]
PASSWORD_ENVS = ("ETH_PASSWORD", "METERING_PASSWORD")
RPC_TIMEOUT_ENV = "METERING_RPC_TIMEOUT"

RpcUrlOpt = Annotated[
    str, typer.Option("--rpc-url", "-r", envvar=RPC_URL_ENV, help="JSON-RPC endpoint of the chain.")
]
ContractOpt = Annotated[
    str | None,
    typer.Option("--contract", envvar="METERING_CONTRACT", help="Address of the Meter contract.", show_default=False),
]
KeystoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        envvar=KEYSTORE_ENVS,
        help="Keystore file of the signer (password: ETH_PASSWORD or METERING_PASSWORD, else a hidden prompt on "
        "a terminal, else one line of stdin). Without it, the key is read from METERING_PRIVATE_KEY.",
        show_default=False,
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="METERING_DB",
        help="Event database: a SQLite file (a path or sqlite:///path) or postgresql://user@host/dbname (default: "
        "a SQLite file per chain and contract in the user data directory).",
        show_default=False,
    ),
]
# metavar="": a flag takes no value, so its help shows none (Typer 0.29 would show `--json <bool>`)
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (errors too: {error, code}).", metavar="")
]

P = ParamSpec("P")
R = TypeVar("R")


def _exit_code(error: MeteringError) -> ExitCode:
    if isinstance(error, RpcUnavailableError | NodeError):
        return ExitCode.UNREACHABLE
    if isinstance(error, ContractRevertError | TransactionFailedError):
        return ExitCode.TX_FAILED
    # ConfigError, RulesFileError, SigningKeyError, InvoiceError, VerificationError, StoreError, IndexingError...
    return ExitCode.INPUT


def command(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command body, turning our errors into one line on stderr and an exit code (with ``--json``, a JSON
    object ``{"error", "code"}`` on stdout instead; the command's ``--json`` parameter is named ``json_out``)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with showing_progress(err_console, enabled=not kwargs.get("json_out")):
                return fn(*args, **kwargs)
        except MeteringError as error:
            code = int(_exit_code(error))
            if kwargs.get("json_out"):
                print_json_error(str(error), code)
            else:
                # escaped: a message may hold brackets (``lines[line=1#seconds]``) that are not markup
                err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code) from None

    return wrapper


def print_json(data: Any) -> None:
    """JSON for scripts: sorted keys, ints as numbers, enums by name, bytes as 0x-hex."""
    typer.echo(json.dumps(_enum_names(data), indent=2, sort_keys=True, default=_json_default))


def _enum_names(value: Any) -> Any:
    """IntEnums replaced by their names: json.dumps writes an int subclass as a number, never asking ``default``."""
    if isinstance(value, IntEnum):
        return value.name
    if isinstance(value, dict):
        return {key: _enum_names(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_enum_names(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def require_contract(address: str | None) -> str:
    if not address:
        raise ConfigError("no contract address: pass --contract or set METERING_CONTRACT (see `metering deploy`)")
    return address


def rpc_timeout() -> float:
    """Seconds one JSON-RPC request may take: METERING_RPC_TIMEOUT, else the profile's rpc_timeout, else 30 s.

    A server that accepts connections and never answers is given up on after this (and the sender's retries).
    """
    from metering.chain import DEFAULT_TIMEOUT
    from metering.cli._profile import find_profile, load_profile

    raw = os.environ.get(RPC_TIMEOUT_ENV)
    if raw is None:
        configured = load_profile(find_profile()).get("rpc_timeout")
        return float(configured) if configured is not None else DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise ConfigError(f"{RPC_TIMEOUT_ENV}={raw!r}: give a number of seconds between 0 and 3600")
    return seconds


def connect(rpc_url: str) -> Web3:
    from metering.chain import connect as _connect

    return _connect(rpc_url, timeout=rpc_timeout())


def env_password() -> str | None:
    """ETH_PASSWORD (Foundry's name) or METERING_PASSWORD, the first one set."""
    return next((os.environ[name] for name in PASSWORD_ENVS if name in os.environ), None)


def ask_password(prompt: str, *, twice: bool = False) -> str:
    """A password from the environment, else a hidden prompt on a terminal, else one line of stdin (a pipe).

    Without a terminal, nothing is printed (no prompt, no getpass warning): a script pipes the password in, or
    gets one clear error (exit 3) when stdin is empty, instead of an abort.
    """
    import sys

    from metering.errors import SigningKeyError

    password = env_password()
    if password is not None:
        return password
    if sys.stdin is not None and sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=twice))
    line = sys.stdin.readline(4096) if sys.stdin is not None else ""
    if not line:
        raise SigningKeyError(
            f"no password ({prompt.lower()}): set ETH_PASSWORD or METERING_PASSWORD, or pipe it on stdin "
            "(there is no terminal to ask on)"
        )
    return line.rstrip("\r\n")


def signer(keystore: Path | None) -> LocalAccount:
    """The signing account: a keystore (password from :func:`ask_password`) or METERING_PRIVATE_KEY."""
    from metering.chain.accounts import load_signer
    from metering.errors import SigningKeyError

    password: str | None = None
    if keystore is not None:
        if keystore.is_dir():
            raise SigningKeyError(f"the keystore {keystore} is a folder: name the keystore file in it "
                                  "(--keystore, ETH_KEYSTORE or METERING_KEYSTORE)")
        if not keystore.is_file():
            raise SigningKeyError(f"no keystore file at {keystore} (--keystore, ETH_KEYSTORE or METERING_KEYSTORE)")
        password = ask_password(f"Password for {keystore}")
    return load_signer(keystore, password)


def open_store(w3: Web3 | LeanNode, contract: str, db: str | Path | None) -> Store:
    """The event database for this chain and contract (created on first use, once the contract is known to exist).

    ``w3`` may be a :class:`~metering.chain.lean.LeanNode`: the read commands go without web3."""
    from metering.audit.store import Store, default_store_path
    from metering.chain.lean import LeanMeter, LeanNode

    # a typo'd address must not leave a database bound to it behind
    if isinstance(w3, LeanNode):
        LeanMeter.at(w3, contract)
    else:
        from metering.chain import meter_contract

        meter_contract(w3, contract)
    chain_id = chain_id_of(w3)
    path = db or default_store_path(chain_id, contract)
    try:
        return Store(path, chain_id=chain_id, contract=contract)
    except (sqlite3.Error, OSError) as exc:  # e.g. a directory, or under a path that is a file
        raise ConfigError(f"cannot open the event database {path}: {exc} (check --db / METERING_DB)") from exc


ConfirmationsOpt = Annotated[
    int, typer.Option(help="Index only blocks this deep (0 on a local chain; more on a public one).", min=0)
]
FromBlockOpt = Annotated[
    int | None,
    typer.Option(
        "--from-block",
        min=0,
        help="First block to read events from, for a new event database: the deployment block (default: as "
        "recorded by `metering deploy` on this machine, else searched for, which a pruned node cannot serve).",
        show_default=False,
    ),
]


def chain_id_of(w3: Web3 | LeanNode) -> int:
    """The chain id of either connection (the reads go through a LeanNode, the sends through web3)."""
    from metering.chain.lean import LeanNode

    return w3.chain_id() if isinstance(w3, LeanNode) else int(w3.eth.chain_id)


def first_block(w3: Web3 | LeanNode, contract: str, from_block: int | None) -> int:
    """Where a new event database starts: ``--from-block``, else the deployment block recorded at deploy time,
    else the one found by searching the chain's history (which a pruned node refuses: then ``--from-block``)."""
    from metering.audit.indexer import find_deployment_block
    from metering.chain.deployment import find_deployment

    if from_block is not None:
        return from_block
    try:
        recorded = find_deployment(chain_id_of(w3), contract)
    except (ConfigError, OSError, ValueError, KeyError):  # an unreadable record: search instead
        recorded = None
    if recorded is not None:
        return recorded.block_number
    return find_deployment_block(w3, contract)  # a pruned node: IndexingError naming --from-block


def sync_store(
    w3: Web3 | LeanNode,
    contract: str,
    store: Store,
    confirmations: int = 0,
    quiet: bool = False,
    from_block: int | None = None,
) -> IndexResult:
    """Bring the event database up to date, with a progress bar on long reads.

    A new database starts at :func:`first_block`; an existing one keeps its start, and a ``from_block`` before
    it is refused (those blocks are not in it).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from metering.audit.indexer import Indexer

    if store.first_block is None:
        start: int | None = first_block(w3, contract, from_block)
    else:
        start = None
        if from_block is not None and from_block < store.first_block:
            raise ConfigError(
                f"the event database {store.path} starts at block {store.first_block}, after --from-block "
                f"{from_block}: use a new database (--db) to read from an earlier block"
            )
    indexer = Indexer(w3, contract, store, confirmations=confirmations, start_block=start)
    columns = (TextColumn("indexing blocks"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # a bar only on a terminal: piped or captured, it would leave an empty line behind
    with Progress(*columns, console=err_console, transient=True, disable=quiet or not err_console.is_terminal) as bar:
        task = bar.add_task("index", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=max(done, 0), total=max(total, 1))

        return indexer.sync(progress=progress)


#: Input files are written by people or by this program: far below these. A bound refuses /dev/zero, a log file
#: given by mistake or a hostile multi-gigabyte file at once, instead of reading it into memory first.
MAX_RULES_BYTES = 1024 * 1024
MAX_INVOICE_BYTES = 64 * 1024 * 1024


def input_file(path: Path, max_bytes: int, what: str) -> Path:
    """``path`` if it is a regular file of at most ``max_bytes``; else :class:`ConfigError` saying what it is."""
    import stat

    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"cannot read the {what} {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path} is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path} is not a regular file (a device or a pipe?): give the {what} itself")
    if info.st_size > max_bytes:
        raise ConfigError(f"{path} is {info.st_size:,} bytes, over the {max_bytes:,} a {what} may have: is it the "
                          "right file?")
    return path


def output_file(path: Path) -> Path:
    """``path`` if a file can be written there: not a folder, in a folder that exists (checked before the work)."""
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder (give a file name, e.g. {path / 'invoice.json'})")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"cannot write {path}: {parent} is a file, not a folder")
    if not parent.exists():
        raise ConfigError(f"cannot write {path}: no folder {parent} (create it first)")
    return path


def write_output(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, a failure (permissions, a full disk) as one :class:`ConfigError` line."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


def fitting_table(*headers: str, **options: Any) -> Table:
    """A Rich table that fits the terminal (80 columns) by wrapping its cells, never by cutting a header
    (``quanti…``): at its natural width when that fits, else spread over the width by each column's longest word,
    no column narrower than the longest word of its header."""
    from metering.cli._table import FittingTable

    table = FittingTable(**options)
    for header in headers:
        table.add_column(header, min_width=max(len(word) for word in header.split()), overflow="fold")
    return table
