"""Compile ``contracts/`` into the artifacts shipped inside ``metering/artifacts/``.

Agents install ``metering`` from a wheel and never need a compiler, so the ABI and bytecode travel with the
package. This is the one place they are produced: py-solc-x drives our ``tools/solc`` shim (solcjs from
``node_modules``) with pinned settings. The standard-JSON input embeds every source, so anyone can reproduce the
bytecode (or verify it on an explorer) without this repository's layout.

Usage: ``python tools/compile_contracts.py`` writes the artifacts; ``--check`` exits 1 if they are stale.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "contracts"
NODE_MODULES = ROOT / "node_modules"
SOLC = ROOT / "tools" / "solc"
ARTIFACTS = ROOT / "metering" / "artifacts"
SOLC_VERSION = "0.8.28"
# The contracts that get an artifact (the others are interfaces and libraries compiled into them).
DEPLOYABLE = ("Meter",)

SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 2000}, "viaIR": True,
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {
            "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata", "devdoc", "userdoc"]
        }
    },
}

_IMPORT = re.compile(r'^\s*import\s+(?:[^"\';]*\s+from\s+)?["\']([^"\']+)["\']\s*;', re.MULTILINE)


def _resolve(unit: str) -> Path:
    """Map a source unit name to a file: ``@openzeppelin/...`` lives in node_modules, the rest in the repo."""
    if unit.startswith("@"):
        return NODE_MODULES / unit
    return ROOT / unit


def _import_unit(importer: str, path: str) -> str:
    if path.startswith("."):
        parts: list[str] = importer.split("/")[:-1]
        for piece in path.split("/"):
            if piece == "..":
                parts.pop()
            elif piece != ".":
                parts.append(piece)
        return "/".join(parts)
    return path


def collect_sources() -> dict[str, dict[str, str]]:
    """Every source unit reachable from ``contracts/``, keyed by its unit name, with its content."""
    pending = sorted(p.relative_to(ROOT).as_posix() for p in CONTRACTS.rglob("*.sol"))
    sources: dict[str, dict[str, str]] = {}
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        text = _resolve(unit).read_text(encoding="utf-8")
        sources[unit] = {"content": text}
        pending.extend(_import_unit(unit, imp) for imp in _IMPORT.findall(text))
    return dict(sorted(sources.items()))


def standard_input() -> dict[str, Any]:
    return {"language": "Solidity", "sources": collect_sources(), "settings": SETTINGS}


def compile_contracts() -> dict[str, dict[str, Any]]:
    """Compile and return ``{artifact file name: JSON content}`` without writing anything."""
    import solcx  # dev-only dependency: imported here so the package never needs it

    std_input = standard_input()
    output = solcx.compile_standard(std_input, solc_binary=SOLC, base_path=ROOT)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SystemExit("\n".join(e.get("formattedMessage", str(e)) for e in errors))
    files: dict[str, dict[str, Any]] = {"standard-input.json": std_input}
    for unit, contracts in output["contracts"].items():
        for name, data in contracts.items():
            if name not in DEPLOYABLE:
                continue
            files[f"{name}.json"] = {
                "contractName": name,
                "sourceName": unit,
                "compiler": {"name": "solc", "version": SOLC_VERSION},
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "metadata": data["metadata"],
                "devdoc": data["devdoc"],
                "userdoc": data["userdoc"],
            }
    return files


def render(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=1, sort_keys=True) + "\n"


def stale_artifacts(files: dict[str, dict[str, Any]]) -> list[str]:
    """Names of artifacts whose shipped file differs from a fresh compile."""
    return [
        name
        for name, content in files.items()
        if not (ARTIFACTS / name).exists() or (ARTIFACTS / name).read_text(encoding="utf-8") != render(content)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the shipped artifacts are stale")
    args = parser.parse_args(argv)
    files = compile_contracts()
    if args.check:
        stale = stale_artifacts(files)
        if stale:
            print(f"stale artifacts: {', '.join(stale)}; run ./run compile", file=sys.stderr)
            return 1
        print("artifacts match the sources")
        return 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (ARTIFACTS / name).write_text(render(content), encoding="utf-8")
        print(f"wrote {(ARTIFACTS / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
