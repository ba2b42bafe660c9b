"""Revert data decoding: every kind of revert becomes a named error with readable arguments, or nothing."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3.exceptions import ContractCustomError, Web3RPCError

from metering._utils.abi_errors import meter_error_decoder, revert_data_from_exception
from metering.contract import abi


def _data(signature: str, types: list[str], values: list[object]) -> bytes:
    return keccak(text=signature)[:4] + encode(types, values)


def test_a_custom_error_is_decoded_with_names_and_a_hint() -> None:
    instance_id = b"\xab" * 32
    data = _data("MeteringInstanceNotOpen(bytes32,uint8)", ["bytes32", "uint8"], [instance_id, 2])

    error = meter_error_decoder().decode("0x" + data.hex(), tx_hash="0x01")

    assert error is not None
    assert (error.name, error.args_, error.tx_hash) == (
        "MeteringInstanceNotOpen", {"instanceId": instance_id, "status": 2}, "0x01"
    )
    assert str(error) == (
        f"contract reverted: MeteringInstanceNotOpen(instanceId=0x{'ab' * 32}, status=2): "
        f"instance 0x{'ab' * 32} is not running (status CLOSED)"
    )


def test_solidity_builtin_errors_are_decoded() -> None:
    reason = meter_error_decoder().decode(_data("Error(string)", ["string"], ["nope"]))
    panic = meter_error_decoder().decode(_data("Panic(uint256)", ["uint256"], [0x11]))

    assert reason is not None and (reason.name, str(reason)) == ("Error", "contract reverted: nope")
    assert panic is not None and panic.name == "Panic" and "overflow" in str(panic)


def test_unknown_or_malformed_data_decodes_to_nothing() -> None:
    decoder = meter_error_decoder()
    assert decoder.decode(None) is None
    assert decoder.decode("0x") is None
    assert decoder.decode(b"\x01\x02\x03\x04") is None  # no such selector
    assert decoder.decode(keccak(text="MeteringZeroLease(bytes32)")[:4] + b"\x01") is None  # truncated
    assert decoder.decode("not hex") is None


def test_revert_data_is_found_in_web3_exceptions() -> None:
    logic = ContractCustomError("0x1234abcd", data="0x1234abcd")
    wrapped = Web3RPCError(
        "execution reverted",
        rpc_response={"jsonrpc": "2.0", "id": 1, "error": {"code": 3, "message": "x", "data": {"data": "0xbeef"}}},
    )

    assert revert_data_from_exception(logic) == bytes.fromhex("1234abcd")
    assert revert_data_from_exception(wrapped) == bytes.fromhex("beef")
    assert revert_data_from_exception(ValueError("x")) is None


def _sample(kind: str) -> object:
    if kind == "address":
        return "0x" + "11" * 20
    if kind == "bool":
        return True
    if kind.startswith("bytes"):
        return b"\x01" * int(kind[5:])
    return 1  # uintN (enums and user-defined value types are uints in the ABI)


def test_every_error_of_the_abi_decodes_with_its_hint() -> None:
    """A hint that names an argument the error does not have would crash the decoder (a traceback in the CLI)."""
    errors = [item for item in abi() if item.get("type") == "error"]
    assert len(errors) > 20
    for item in errors:
        types = [str(i["type"]) for i in item["inputs"]]
        signature = f"{item['name']}({','.join(types)})"

        error = meter_error_decoder().decode(_data(signature, types, [_sample(t) for t in types]))

        assert error is not None, signature
        assert error.name == item["name"]
        assert set(error.args_) == {i["name"] for i in item["inputs"]}
        assert str(error).startswith(f"contract reverted: {item['name']}("), str(error)


def test_v2_errors_say_what_to_do() -> None:
    instance = b"\x22" * 20 + b"\0" * 4 + (0x0102).to_bytes(8, "big")
    busy = meter_error_decoder().decode(
        _data("MeteringSeatBusy(bytes32,uint40)", ["bytes32", "uint40"], [instance, 99])
    )
    holder = meter_error_decoder().decode(
        _data("MeteringNotInstanceHolder(bytes32,address)", ["bytes32", "address"], [instance, "0x" + "33" * 20])
    )
    generation = meter_error_decoder().decode(
        _data("MeteringUnexpectedGeneration(bytes32,uint8)", ["bytes32", "uint8"], [instance, 7])
    )

    assert busy is not None and "until 99" in str(busy)
    assert holder is not None and "only the agent that requested it" in str(holder)
    assert generation is not None and "generation 8" in str(generation)


#: AccessControlUnauthorizedAccount(0x7099...79C8, DEFAULT_ADMIN_ROLE), as Hardhat 2 and Ganache 7 returned it.
_UNAUTHORIZED = (
    "0xe2517d3f00000000000000000000000070997970c51812dc3a010c7d01b50e0d17dc79c8"
    "0000000000000000000000000000000000000000000000000000000000000000"
)


def test_hardhat_revert_data_is_found_in_its_error_object_and_its_message() -> None:
    message = ("Error: VM Exception while processing transaction: reverted with an unrecognized custom error "
               f"(return data: {_UNAUTHORIZED})")
    # web3 hands a node's error.data object over as ContractLogicError.data (Hardhat 2's eth_estimateGas/eth_call)
    from web3.exceptions import ContractLogicError

    as_object = ContractLogicError(f"execution reverted: {message}", data={"message": message, "data": _UNAUTHORIZED})
    only_message = Web3RPCError(message)

    for exc in (as_object, only_message):
        data = revert_data_from_exception(exc)
        error = meter_error_decoder().decode(data)
        assert error is not None and error.name == "AccessControlUnauthorizedAccount", exc
        assert "DEFAULT_ADMIN_ROLE" in str(error)


def test_ganache_estimate_revert_data_is_found_under_result() -> None:
    from web3.exceptions import ContractLogicError

    exc = ContractLogicError(
        "execution reverted: VM Exception while processing transaction: revert",
        data={"hash": None, "programCounter": 12608, "result": _UNAUTHORIZED, "reason": None, "message": "revert"},
    )

    assert revert_data_from_exception(exc) == bytes.fromhex(_UNAUTHORIZED[2:])
