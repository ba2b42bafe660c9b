"""Transactions built and signed with coincurve are byte for byte what eth-account signs, for any fields."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from metering._utils.txsign import Eip1559Signer, rlp_bytes, rlp_int, rlp_list

_UINT64 = 2**64 - 1
_UINT256 = 2**256 - 1

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# Keys from 1 to n-1 (n: the order of secp256k1), so every drawn key is valid.
_KEYS = st.integers(min_value=1, max_value=_SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))


@settings(max_examples=150, deadline=None)
@given(
    key=_KEYS,
    chain_id=st.integers(min_value=1, max_value=_UINT64),
    nonce=st.integers(min_value=0, max_value=_UINT64 - 1),
    tip=st.integers(min_value=0, max_value=_UINT256),
    extra=st.integers(min_value=0, max_value=_UINT256),
    gas=st.integers(min_value=0, max_value=_UINT64),
    to=st.none() | st.binary(min_size=20, max_size=20),
    value=st.integers(min_value=0, max_value=_UINT256),
    data=st.binary(max_size=600),
)
def test_signed_bytes_and_hash_equal_eth_accounts(
    key: bytes, chain_id: int, nonce: int, tip: int, extra: int, gas: int, to: bytes | None, value: int, data: bytes
) -> None:
    max_fee = min(tip + extra, _UINT256)
    tx = {
        "type": 2, "chainId": chain_id, "nonce": nonce, "maxPriorityFeePerGas": tip, "maxFeePerGas": max_fee,
        "gas": gas, "value": value, "data": data, "accessList": [],
    }
    if to is not None:
        tx["to"] = to_checksum_address(to)
    expected = Account.sign_transaction(tx, key)

    raw, tx_hash = Eip1559Signer(key).sign(chain_id, nonce, tip, max_fee, gas, to, value, data)

    assert raw == bytes(expected.raw_transaction)
    assert tx_hash == bytes(expected.hash)


def test_rlp_encodes_the_boundaries_of_its_length_prefixes() -> None:
    assert rlp_int(0) == b"\x80"
    assert rlp_int(0x7F) == b"\x7f"
    assert rlp_int(0x80) == b"\x81\x80"
    assert rlp_bytes(b"") == b"\x80"
    assert rlp_bytes(b"\x00") == b"\x00"
    assert rlp_bytes(b"a" * 55) == b"\xb7" + b"a" * 55
    assert rlp_bytes(b"a" * 56) == b"\xb8\x38" + b"a" * 56
    assert rlp_bytes(b"a" * 256) == b"\xb9\x01\x00" + b"a" * 256
    assert rlp_list(b"") == b"\xc0"
    assert rlp_list(b"a" * 56) == b"\xf8\x38" + b"a" * 56


def test_malformed_keys_addresses_and_integers_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Eip1559Signer(b"\x01" * 31)
    with pytest.raises(ValueError, match="20 bytes"):
        Eip1559Signer(b"\x01" * 32).sign(1, 0, 0, 0, 21_000, b"\x02" * 19, 0, b"")
    with pytest.raises(ValueError, match="non-negative"):
        rlp_int(-1)
