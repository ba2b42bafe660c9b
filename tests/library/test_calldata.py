"""Calldata from precomputed selectors equals web3's ``encode_abi``, for every function of the ABI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from eth_abi.exceptions import EncodingError
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


#: Functions of every shape: single words of odd widths, a one-field tuple, arrays of words and of tuples (the
#: precompiled plan), and types the plan leaves to eth_abi (dynamic bytes and strings, fixed and nested arrays).
SYNTHETIC_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "words", "outputs": [], "inputs": [
        {"name": "a", "type": "int8"}, {"name": "b", "type": "bytes3"}, {"name": "c", "type": "bool"},
        {"name": "d", "type": "int256"}, {"name": "e", "type": "uint8"}, {"name": "f", "type": "address"}]},
    {"type": "function", "name": "arrays", "outputs": [], "inputs": [
        {"name": "flags", "type": "bool[]"},
        {"name": "one", "type": "tuple", "components": [{"name": "x", "type": "uint64"}]},
        {"name": "pairs", "type": "tuple[]", "components": [
            {"name": "who", "type": "address"}, {"name": "n", "type": "int16"}]},
        {"name": "ids", "type": "bytes32[]"}]},
    {"type": "function", "name": "loose", "outputs": [], "inputs": [
        {"name": "s", "type": "string"}, {"name": "b", "type": "bytes"}, {"name": "fixed", "type": "address[2]"},
        {"name": "nested", "type": "uint256[][]"}, {"name": "n", "type": "uint256"}]},
]
_SYNTHETIC = Web3().eth.contract(address=Web3.to_checksum_address("0x" + "ab" * 20), abi=SYNTHETIC_ABI)


@pytest.mark.parametrize("function", SYNTHETIC_ABI, ids=lambda f: str(f["name"]))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_argument_shape_encodes_as_web3_encodes_it(function: Mapping[str, Any], data: st.DataObject) -> None:
    args = data.draw(arguments(function))
    expected = bytes.fromhex(_SYNTHETIC.encode_abi(str(function["name"]), args=args)[2:])
    assert CallEncoder(SYNTHETIC_ABI).encode(str(function["name"]), args) == expected


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("requestActivation", ["0x" + "ab" * 20, 1, b"\x01" * 32, 2**32]),  # uint32 overflow
        ("requestActivation", ["0x" + "ab" * 20, -1, b"\x01" * 32, 60]),  # negative uint
        ("requestActivation", ["0x" + "ab" * 20, True, b"\x01" * 32, 60]),  # a bool is not a uint
        ("requestActivation", ["0x" + "ab" * 20, 1, b"\x01" * 33, 60]),  # 33 bytes for a bytes32
        ("requestActivation", ["0x" + "ab" * 20, 1, "0x" + "01" * 32, 60]),  # text for bytes32
        ("requestActivation", ["0x" + "ab" * 20, 1, b"\x01" * 32]),  # an argument short
        ("requestActivations", [[("0x" + "ab" * 20, 1, b"\x01" * 32)]]),  # a tuple short
        ("expireLeases", [b"\x01" * 32]),  # not a list
    ],
)
def test_values_that_do_not_fit_their_type_are_refused_like_eth_abi_refuses_them(
    function: str, args: list[Any]
) -> None:
    with pytest.raises(EncodingError):
        meter_call_encoder().encode(function, args)
