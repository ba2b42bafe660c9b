"""The solc shim's disk cache (tools/solc_cache.js): a repeated compilation is served from out/solc-cache/ byte for
byte, and only a compilation whose every source was inline is kept (one that read a file through the import
callback depends on more than its input, so it is compiled every time)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLC = ROOT / "tools" / "solc"

CONTRACT = (
    "// SPDX-License-Identifier: MIT\npragma solidity 0.8.28;\n"
    "contract C { function f() external pure returns (uint) { return 1; } }\n"
)


def _standard_json(sources: dict[str, dict[str, str]]) -> str:
    return json.dumps({"language": "Solidity", "sources": sources,
                       "settings": {"outputSelection": {"*": {"*": ["evm.bytecode.object"]}}}})


def _compile(text: str, cache: Path, base: Path) -> dict[str, object]:
    done = subprocess.run([SOLC, "--standard-json", "--base-path", str(base)], input=text, capture_output=True,
                          text=True, check=True, env={**os.environ, "METERING_SOLC_CACHE": str(cache)}, timeout=300)
    output: dict[str, object] = json.loads(done.stdout)
    return output


def test_an_inline_compilation_is_kept_and_served_again_byte_for_byte(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    text = _standard_json({"C.sol": {"content": CONTRACT}})
    first = _compile(text, cache, tmp_path)
    assert "C" in first["contracts"]["C.sol"]  # type: ignore[index]
    kept = list(cache.glob("*.json"))
    assert len(kept) == 1
    kept[0].write_text(kept[0].read_text().replace('"object":"', '"object":"beef'))  # proof the next is a hit
    second = _compile(text, cache, tmp_path)
    assert second["contracts"]["C.sol"]["C"]["evm"]["bytecode"]["object"].startswith("beef")  # type: ignore[index]


def test_a_compilation_that_read_an_import_is_not_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (tmp_path / "Lib.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity 0.8.28;\nlibrary L {}\n")
    main = CONTRACT.replace("contract C", 'import "Lib.sol";\ncontract C')
    output = _compile(_standard_json({"C.sol": {"content": main}}), cache, tmp_path)
    assert "Lib.sol" in output["sources"]  # type: ignore[operator]
    assert not cache.exists() or not list(cache.glob("*.json"))
