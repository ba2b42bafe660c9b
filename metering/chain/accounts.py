"""Signing keys: from an encrypted keystore file or from the environment, never from a command-line argument.

A key typed on a command line ends up in shell history and in every process listing, so ``metering`` takes keys
from two places only:

* a keystore file (the standard Web3 Secret Storage JSON, made with ``Account.encrypt``), unlocked with a password
  given by the caller (the CLI prompts for it, hidden) or read from ``METERING_PASSWORD``;
* the ``METERING_PRIVATE_KEY`` environment variable (for agents run by a service manager, and for tests).

>>> address = create_keystore(Path("agent.json"), "s3cret")     # doctest: +SKIP
>>> signer = load_signer(Path("agent.json"), "s3cret")          # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from metering.errors import SigningKeyError

__all__ = [
    "PASSWORD_ENV",
    "PRIVATE_KEY_ENV",
    "create_keystore",
    "keystore_address",
    "load_signer",
]

#: Environment variable holding a hex private key (used when no keystore is given).
PRIVATE_KEY_ENV = "METERING_PRIVATE_KEY"
#: Environment variable holding the keystore password (used when no password is passed).
PASSWORD_ENV = "METERING_PASSWORD"

_HOW = f"pass --keystore FILE (its password is prompted for, or read from {PASSWORD_ENV}) or set {PRIVATE_KEY_ENV}"


def load_signer(
    keystore: Path | None = None,
    password: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> LocalAccount:
    """The account that signs transactions: from ``keystore`` if given, else from ``METERING_PRIVATE_KEY``.

    ``password`` unlocks the keystore; when it is ``None``, ``METERING_PASSWORD`` is used. ``environ`` defaults to
    :data:`os.environ` (tests pass their own).

    :raises SigningKeyError: no key source, unreadable keystore, wrong password, or a malformed key; the message
        never contains the key itself.
    """
    env = os.environ if environ is None else environ
    if keystore is not None:
        return _from_keystore(Path(keystore), password if password is not None else env.get(PASSWORD_ENV))
    raw = env.get(PRIVATE_KEY_ENV)
    if raw:
        return _from_private_key(raw.strip(), source=PRIVATE_KEY_ENV)
    raise SigningKeyError(f"no signing key: {_HOW}")


def create_keystore(
    path: Path,
    password: str,
    private_key: str | bytes | None = None,
    *,
    overwrite: bool = False,
    kdf: Literal["pbkdf2", "scrypt"] | None = None,
    iterations: int | None = None,
) -> ChecksumAddress:
    """Encrypts ``private_key`` (a fresh random key if ``None``) with ``password`` into ``path``; returns its address.

    The file is created readable by its owner only. ``kdf``/``iterations`` are passed to ``Account.encrypt``
    (the default is scrypt with eth-account's work factor; tests use a cheap pbkdf2 to stay fast).

    :raises SigningKeyError: empty password, malformed key, or ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if not password:
        raise SigningKeyError("a keystore needs a non-empty password")
    if path.exists() and not overwrite:
        raise SigningKeyError(f"keystore {path} already exists: choose another path or remove it first")
    if private_key is None:
        account: LocalAccount = Account.create()
    else:
        key = private_key if isinstance(private_key, str) else "0x" + private_key.hex()
        account = _from_private_key(key, source="the given private key")
    encrypted = Account.encrypt(account.key, password, kdf=kdf, iterations=iterations)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(encrypted, handle)
        handle.write("\n")
    address: ChecksumAddress = account.address
    return address


def keystore_address(path: Path) -> ChecksumAddress:
    """The address a keystore file holds, read without the password (it is stored in clear in the file)."""
    data = _read_keystore(Path(path))
    address = data.get("address")
    if not isinstance(address, str):
        raise SigningKeyError(f"keystore {path} does not record its address: unlock it to see the address")
    try:
        return to_checksum_address(address if address.startswith("0x") else "0x" + address)
    except ValueError as exc:
        raise SigningKeyError(f"keystore {path} records a malformed address") from exc


def _read_keystore(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SigningKeyError(f"keystore not found: {path}") from exc
    except OSError as exc:
        raise SigningKeyError(f"cannot read keystore {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:  # binary junk: a keystore is JSON text
        raise SigningKeyError(f"keystore {path} is not a keystore file (not even text)") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SigningKeyError(f"keystore {path} is not JSON (line {exc.lineno}): is it a keystore file?") from exc
    if not isinstance(data, dict) or "crypto" not in {k.lower() for k in data}:
        raise SigningKeyError(f"keystore {path} is not an Ethereum keystore (no 'crypto' section)")
    return data


def _from_keystore(path: Path, password: str | None) -> LocalAccount:
    data = _read_keystore(path)
    if password is None:
        raise SigningKeyError(f"keystore {path} is locked: enter its password when prompted, or set {PASSWORD_ENV}")
    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise SigningKeyError(f"wrong password for keystore {path}") from exc
        raise SigningKeyError(f"cannot unlock keystore {path}: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise SigningKeyError(f"keystore {path} is malformed (missing {exc})") from exc
    account: LocalAccount = Account.from_key(key)
    return account


def _from_private_key(raw: str, *, source: str) -> LocalAccount:
    text = raw[2:] if raw.lower().startswith("0x") else raw
    if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise SigningKeyError(f"{source} is not a private key: expected 64 hex digits (with or without 0x)")
    try:
        account: LocalAccount = Account.from_key("0x" + text)
    except (ValueError, TypeError):  # e.g. zero or above the curve order; `from None` so the key is never echoed
        raise SigningKeyError(f"{source} is not a valid secp256k1 private key") from None
    return account
