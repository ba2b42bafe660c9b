"""Fixtures of the packing tests: the slot libraries' harness, compiled from the sources and deployed once."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

ROOT = Path(__file__).resolve().parents[2]
HARNESS_UNIT = "tests/packing/SlotsHarness.sol"


def _compile_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compile_contracts", ROOT / "tools" / "compile_contracts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_harness() -> dict[str, Any]:
    """ABI and bytecode of the harness, compiled with the project's pinned solc and Meter's pipeline (viaIR) from
    the current sources: the libraries under test are compiled in, as Meter compiles them in."""
    import solcx

    tool = _compile_tool()
    sources: dict[str, dict[str, str]] = {}
    pending = [HARNESS_UNIT]
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        text = (ROOT / unit).read_text(encoding="utf-8") if unit == HARNESS_UNIT else tool._resolve(unit).read_text()
        sources[unit] = {"content": text}
        pending.extend(tool._import_unit(unit, imp) for imp in tool._IMPORT.findall(text))
    std = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": tool.SETTINGS["optimizer"],
            "viaIR": True,
            "evmVersion": tool.SETTINGS.get("evmVersion") or "cancun",
            "outputSelection": {HARNESS_UNIT: {"SlotsHarness": ["abi", "evm.bytecode.object"]}},
        },
    }
    out = solcx.compile_standard(std, solc_binary=tool.SOLC, base_path=ROOT)
    errors = [e["formattedMessage"] for e in out.get("errors", []) if e.get("severity") == "error"]
    assert not errors, "\n".join(errors)
    contract = out["contracts"][HARNESS_UNIT]["SlotsHarness"]
    return {"abi": contract["abi"], "bytecode": "0x" + contract["evm"]["bytecode"]["object"]}


@pytest.fixture(scope="session")
def slots(w3: Web3, actors: Any) -> Contract:
    compiled = compile_harness()
    factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": actors.admin.address}))
    assert receipt["status"] == 1
    return w3.eth.contract(address=receipt["contractAddress"], abi=compiled["abi"])
