"""Calldata from precomputed selectors equals web3's ``encode_abi``, for every function of the ABI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from metering._utils.calldata import CallEncoder, meter_call_encoder
from metering.contract import abi

from .abi_values import arguments

_CONTRACT = Web3().eth.contract(address=Web3.to_checksum_address("0x" + "ab" * 20), abi=abi())
_FUNCTIONS = [f for f in abi() if f.get("type") == "function"]


@pytest.mark.parametrize("function", _FUNCTIONS, ids=lambda f: str(f["name"]))
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_every_meter_function_encodes_as_web3_encodes_it(function: Mapping[str, Any], data: st.DataObject) -> None:
    args = data.draw(arguments(function))
    expected = bytes.fromhex(_CONTRACT.encode_abi(str(function["name"]), args=args)[2:])
    assert meter_call_encoder().encode(str(function["name"]), args) == expected


def test_overloaded_functions_are_addressed_by_signature() -> None:
    overloaded = [
        {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "uint256"}], "outputs": []},
        {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "address"}], "outputs": []},
    ]
    encoder = CallEncoder(overloaded)
    assert encoder.selector("f(uint256)") == Web3.keccak(text="f(uint256)")[:4]
    assert encoder.encode("f(address)", ["0x" + "00" * 20]) == Web3.keccak(text="f(address)")[:4] + bytes(32)
    with pytest.raises(KeyError):
        encoder.encode("f", [1])
