"""Meter's runtime code stays under EIP-170's limit on every EVM target, so every shipped build can be deployed.

The build trades code size for gas (viaIR, optimizer runs in tools/compile_contracts.py): a change that grows the
code past the limit would still compile, and even pass tests on a node started with ``--disable-code-size-limit``,
yet fail to deploy anywhere real. This reads the shipped builds; test_foundation proves they are exactly what the
sources compile to, so together they check the sources without compiling a second time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metering.chain.evm import EvmTarget, artifact_dir

PACKAGE = Path(__file__).resolve().parent.parent / "metering"
#: EIP-170: a contract creation that returns more runtime code than this fails.
EIP170_LIMIT = 24_576


@pytest.mark.parametrize("name", ["Meter", "Settlement"])
@pytest.mark.parametrize("target", list(EvmTarget), ids=str)
def test_meter_runtime_code_is_under_the_eip170_limit(target: EvmTarget, name: str) -> None:
    artifact = json.loads((PACKAGE / artifact_dir(target) / f"{name}.json").read_text(encoding="utf-8"))
    assert artifact["evmVersion"] == target.value
    size = len(bytes.fromhex(artifact["deployedBytecode"].removeprefix("0x")))
    assert size < EIP170_LIMIT, (
        f"{name}'s {target} runtime code is {size:,} bytes, over EIP-170's {EIP170_LIMIT:,}: lower the optimizer "
        "runs in tools/compile_contracts.py or move cold code out of the contract"
    )
