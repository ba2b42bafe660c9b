"""Signing keys come from a keystore or the environment, and connection mistakes are reported up front."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from eth_account import Account
from web3 import Web3

from metering.chain import connect, meter_contract
from metering.chain.accounts import PASSWORD_ENV, PRIVATE_KEY_ENV, create_keystore, keystore_address, load_signer
from metering.chain.node import LocalNode
from metering.errors import ConfigError, RpcUnavailableError, SigningKeyError

if TYPE_CHECKING:
    from tests.conftest import Actors

KEY = "0x" + "42" * 32


def _keystore(tmp_path: Path, password: str = "correct horse") -> tuple[Path, str]:
    path = tmp_path / "keys" / "agent.json"
    address = create_keystore(path, password, KEY, kdf="pbkdf2", iterations=2)
    return path, address


def test_keystore_round_trip(tmp_path: Path) -> None:
    path, address = _keystore(tmp_path)

    signer = load_signer(path, "correct horse", environ={})

    assert signer.address == address == Account.from_key(KEY).address
    assert keystore_address(path) == address
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KEY[2:] not in path.read_text()


def test_keystore_password_may_come_from_the_environment(tmp_path: Path) -> None:
    path, address = _keystore(tmp_path)
    assert load_signer(path, environ={PASSWORD_ENV: "correct horse"}).address == address


def test_wrong_password_is_a_clear_signing_key_error(tmp_path: Path) -> None:
    path, _ = _keystore(tmp_path)
    with pytest.raises(SigningKeyError, match=f"wrong password for keystore {path}"):
        load_signer(path, "battery staple", environ={})


def test_locked_keystore_without_password_says_how_to_unlock(tmp_path: Path) -> None:
    path, _ = _keystore(tmp_path)
    with pytest.raises(SigningKeyError, match=PASSWORD_ENV):
        load_signer(path, None, environ={})


def test_missing_or_malformed_keystore(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="keystore not found"):
        load_signer(tmp_path / "nope.json", "x", environ={})
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(SigningKeyError, match="not JSON"):
        load_signer(junk, "x", environ={})
    junk.write_text(json.dumps({"hello": 1}))
    with pytest.raises(SigningKeyError, match="not an Ethereum keystore"):
        load_signer(junk, "x", environ={})


def test_create_keystore_refuses_to_overwrite_and_empty_passwords(tmp_path: Path) -> None:
    path, _ = _keystore(tmp_path)
    with pytest.raises(SigningKeyError, match="already exists"):
        create_keystore(path, "pw", KEY, kdf="pbkdf2", iterations=2)
    with pytest.raises(SigningKeyError, match="non-empty password"):
        create_keystore(tmp_path / "other.json", "", KEY)


def test_create_keystore_makes_a_fresh_key_when_none_is_given(tmp_path: Path) -> None:
    address = create_keystore(tmp_path / "new.json", "pw", kdf="pbkdf2", iterations=2)
    assert load_signer(tmp_path / "new.json", "pw", environ={}).address == address != Account.from_key(KEY).address


def test_private_key_from_the_environment(tmp_path: Path) -> None:
    assert load_signer(environ={PRIVATE_KEY_ENV: KEY}).address == Account.from_key(KEY).address
    assert load_signer(environ={PRIVATE_KEY_ENV: KEY[2:] + "\n"}).address == Account.from_key(KEY).address


def test_a_keystore_wins_over_the_environment(tmp_path: Path) -> None:
    path, address = _keystore(tmp_path)
    other = "0x" + "07" * 32
    assert load_signer(path, "correct horse", environ={PRIVATE_KEY_ENV: other}).address == address


def test_a_malformed_environment_key_is_refused_without_echoing_it() -> None:
    bad = "0x" + "zz" * 32
    with pytest.raises(SigningKeyError, match=PRIVATE_KEY_ENV) as caught:
        load_signer(environ={PRIVATE_KEY_ENV: bad})
    assert bad not in str(caught.value)
    with pytest.raises(SigningKeyError, match="not a valid secp256k1"):
        load_signer(environ={PRIVATE_KEY_ENV: "0x" + "00" * 32})


def test_no_key_source_says_where_keys_come_from() -> None:
    with pytest.raises(SigningKeyError, match=f"--keystore.*{PRIVATE_KEY_ENV}"):
        load_signer(environ={})


def test_connect_checks_that_a_node_answers(node: LocalNode) -> None:
    w3 = connect(node.rpc_url)
    assert w3.eth.chain_id == node.chain_id


def test_connect_to_nothing_says_how_to_start_a_node() -> None:
    with pytest.raises(RpcUnavailableError, match=r"no node answers at http://127.0.0.1:9/: start one with `metering"):
        connect("http://127.0.0.1:9/", timeout=1)


def test_connect_rejects_a_malformed_url() -> None:
    with pytest.raises(ConfigError, match="not an RPC URL"):
        connect("localhost:8545")


def test_meter_contract_validates_the_address(w3: Web3, actors: Actors) -> None:
    with pytest.raises(ConfigError, match="not an address: 0x1234"):
        meter_contract(w3, "0x1234")
    with pytest.raises(ConfigError, match=f"no contract code at {actors.outsider.address} on chain 31337"):
        meter_contract(w3, actors.outsider.address.lower())
