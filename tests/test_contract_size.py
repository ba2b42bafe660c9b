"""Meter's runtime code stays under EIP-170's limit, so it can be deployed on Ethereum and its usual L2s.

The build trades code size for gas (viaIR, optimizer runs): a change that grows the code past the limit would
compile, and even pass tests on a node started with ``--disable-code-size-limit``, yet fail to deploy anywhere real.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from metering import contract as artifacts

ROOT = Path(__file__).resolve().parent.parent
#: EIP-170: a contract creation that returns more runtime code than this fails.
EIP170_LIMIT = 24_576


def _compile_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compile_contracts", ROOT / "tools" / "compile_contracts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runtime_size(deployed_bytecode: str) -> int:
    return len(bytes.fromhex(deployed_bytecode.removeprefix("0x")))


def test_meter_compiles_to_runtime_code_under_the_eip170_limit() -> None:
    compiled = _compile_tool().compile_contracts()["Meter.json"]
    size = _runtime_size(compiled["deployedBytecode"])
    assert size < EIP170_LIMIT, (
        f"Meter's runtime code is {size:,} bytes, over EIP-170's {EIP170_LIMIT:,}: lower the optimizer runs in "
        "tools/compile_contracts.py or move cold code out of the contract"
    )
    # The shipped artifact is what gets deployed: the same code (test_foundation checks they match byte for byte).
    assert _runtime_size(artifacts.deployed_bytecode()) == size
