"""The precompiled event decoder gives what web3's ``process_log`` gives, for every event of the ABI, from raw
JSON-RPC logs and from web3-formatted ones; malformed logs are errors, foreign logs are skipped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from metering._utils.logdecode import EventDecoder, canonical_type, decode_receipt_logs, meter_event_decoder
from metering.contract import abi
from metering.errors import EventDecodeError

from .abi_values import arguments

ADDRESS = "0x" + "ab" * 20

#: Events with every kind of field: indexed dynamic values (stored as hashes), dynamic and multi-word data, and
#: single-word types of odd widths, so the decoder's fallback and its fast path are both compared with web3.
SYNTHETIC_ABI: list[dict[str, Any]] = [
    {"type": "event", "name": "Mixed", "anonymous": False, "inputs": [
        {"name": "label", "type": "string", "indexed": True},
        {"name": "who", "type": "address", "indexed": True},
        {"name": "amounts", "type": "uint256[]", "indexed": False},
        {"name": "blob", "type": "bytes", "indexed": False},
        {"name": "note", "type": "string", "indexed": False},
        {"name": "pair", "type": "tuple", "indexed": False, "components": [
            {"name": "owner", "type": "address"}, {"name": "amount", "type": "uint64"}]},
        {"name": "owners", "type": "address[2]", "indexed": False},
        {"name": "flag", "type": "bool", "indexed": False},
    ]},
    {"type": "event", "name": "Words", "anonymous": False, "inputs": [
        {"name": "blob", "type": "bytes", "indexed": True},
        {"name": "tick", "type": "int24", "indexed": True},
        {"name": "small", "type": "int8", "indexed": False},
        {"name": "code", "type": "bytes3", "indexed": False},
        {"name": "u", "type": "uint8", "indexed": False},
        {"name": "big", "type": "int256", "indexed": False},
        {"name": "flag", "type": "bool", "indexed": False},
        {"name": "to", "type": "address", "indexed": False},
    ]},
    {"type": "event", "name": "Empty", "anonymous": False, "inputs": []},
]


def _events(contract_abi: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in contract_abi if e.get("type") == "event" and not e.get("anonymous")]


def _topic(item: Mapping[str, Any], value: Any) -> bytes:
    kind = canonical_type(item)
    if kind == "string":
        return keccak(text=value)
    if kind == "bytes":
        return keccak(value)
    return encode([kind], [value])


def _log(event: Mapping[str, Any], values: list[Any], *, raw: bool) -> dict[str, Any]:
    """A log of ``event`` with ``values``, as a node sends it (``raw``) or as web3 formats it."""
    inputs = event["inputs"]
    signature = f"{event['name']}({','.join(canonical_type(i) for i in inputs)})"
    topics = [keccak(text=signature)] + [_topic(i, v) for i, v in zip(inputs, values, strict=True) if i["indexed"]]
    data_items = [(i, v) for i, v in zip(inputs, values, strict=True) if not i["indexed"]]
    data = encode([canonical_type(i) for i, _ in data_items], [v for _, v in data_items])
    if raw:
        return {
            "address": ADDRESS, "topics": ["0x" + t.hex() for t in topics], "data": "0x" + data.hex(),
            "blockNumber": "0x7", "blockHash": "0x" + "11" * 32, "transactionHash": "0x" + "22" * 32,
            "transactionIndex": "0x0", "logIndex": "0x3", "removed": False,
        }
    return {
        "address": Web3.to_checksum_address(ADDRESS), "topics": [HexBytes(t) for t in topics], "data": HexBytes(data),
        "blockNumber": 7, "blockHash": HexBytes("11" * 32), "transactionHash": HexBytes("22" * 32),
        "transactionIndex": 0, "logIndex": 3, "removed": False,
    }


def _plain(value: Any) -> Any:
    """web3 returns lists or tuples for arrays and structs: compare their items."""
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(_plain(v) for v in value.values())
    return value


_CONTRACTS: dict[int, Any] = {}


def _web3_args(contract_abi: list[dict[str, Any]], name: str, log: dict[str, Any]) -> dict[str, Any]:
    contract = _CONTRACTS.get(id(contract_abi))
    if contract is None:
        contract = _CONTRACTS[id(contract_abi)] = Web3().eth.contract(
            address=Web3.to_checksum_address(ADDRESS), abi=contract_abi
        )
    return {k: _plain(v) for k, v in contract.events[name]().process_log(log)["args"].items()}


def _compare_with_web3(contract_abi: list[dict[str, Any]], event: Mapping[str, Any], values: list[Any]) -> None:
    decoder = meter_event_decoder() if contract_abi is abi() else EventDecoder(contract_abi)
    expected = _web3_args(contract_abi, event["name"], _log(event, values, raw=False))
    for raw in (True, False):
        decoded = decoder.decode(_log(event, values, raw=raw))
        assert decoded is not None
        assert decoded.name == event["name"]
        assert list(decoded.args) == [i["name"] for i in event["inputs"]]  # ABI order, as web3
        assert {k: _plain(v) for k, v in decoded.args.items()} == expected


@pytest.mark.parametrize("event", _events(abi()), ids=lambda e: str(e["name"]))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_every_meter_event_decodes_as_web3_decodes_it(event: Mapping[str, Any], data: st.DataObject) -> None:
    values = data.draw(arguments(event))
    _compare_with_web3(abi(), event, values)
    # Static values come back exactly as they went in.
    decoded = meter_event_decoder().decode(_log(event, values, raw=True))
    assert decoded is not None
    assert list(decoded.args.values()) == values


@pytest.mark.parametrize("event", _events(SYNTHETIC_ABI), ids=lambda e: str(e["name"]))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_dynamic_and_odd_sized_fields_decode_as_web3_decodes_them(
    event: Mapping[str, Any], data: st.DataObject
) -> None:
    _compare_with_web3(SYNTHETIC_ABI, event, data.draw(arguments(event)))


def test_logs_of_other_events_or_other_contracts_are_skipped() -> None:
    granted = next(e for e in abi() if e.get("name") == "ActivationGranted")
    values = [b"\x01" * 32, Web3.to_checksum_address("0x" + "cd" * 20), 1, 2, 3, 4, True]
    ours = _log(granted, values, raw=True)
    foreign_topic = dict(ours, topics=["0x" + "ee" * 32, *ours["topics"][1:]])
    fewer_topics = dict(ours, topics=ours["topics"][:2])  # same signature, other indexed fields: not this event
    no_topics = dict(ours, topics=[])
    other_contract = dict(ours, address="0x" + "99" * 20)

    events = decode_receipt_logs(
        {"logs": [foreign_topic, fewer_topics, no_topics, other_contract, ours]}, ADDRESS
    )

    assert [(e.name, e.args["instanceId"]) for e in events] == [("ActivationGranted", b"\x01" * 32)]
    assert len(decode_receipt_logs([other_contract, ours])) == 2  # no address: every log of a known event


@pytest.mark.parametrize(
    ("word", "field"),
    [
        ("00" * 31 + "02", "overage"),  # a bool that is neither 0 nor 1
        ("00" * 26 + "01" + "00" * 5, "startedAt"),  # a uint40 beyond 40 bits
    ],
)
def test_malformed_data_is_an_error_not_a_wrong_value(word: str, field: str) -> None:
    granted = next(e for e in abi() if e.get("name") == "ActivationGranted")
    values = [b"\x01" * 32, Web3.to_checksum_address("0x" + "cd" * 20), 1, 2, 3, 4, True]
    log = _log(granted, values, raw=True)
    names = [i["name"] for i in granted["inputs"] if not i["indexed"]]
    words = [log["data"][2 + 64 * k: 2 + 64 * (k + 1)] for k in range(len(names))]
    words[names.index(field)] = word
    with pytest.raises(EventDecodeError):
        meter_event_decoder().decode(dict(log, data="0x" + "".join(words)))
    with pytest.raises(EventDecodeError, match="data bytes"):
        meter_event_decoder().decode(dict(log, data=log["data"][:-64]))


def test_an_address_topic_with_dirty_padding_is_an_error() -> None:
    enrolled = next(e for e in abi() if e.get("name") == "CustomerEnrolled")
    log = _log(enrolled, [Web3.to_checksum_address("0x" + "cd" * 20)], raw=True)
    log["topics"][1] = "0x01" + log["topics"][1][4:]
    with pytest.raises(EventDecodeError, match="padding"):
        meter_event_decoder().decode(log)
