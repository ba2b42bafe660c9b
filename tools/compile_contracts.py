"""Compile ``contracts/`` into the artifacts shipped inside ``metering/artifacts/``, once per EVM target.

Agents install ``metering`` from a wheel and never need a compiler, so the ABI and bytecode travel with the
package. This is the one place they are produced: py-solc-x drives our ``tools/solc`` shim (solcjs from
``node_modules``) with pinned settings. The standard-JSON input embeds every source, so anyone can reproduce the
bytecode (or verify it on an explorer) without this repository's layout.

Every target of :class:`metering.chain.evm.EvmTarget` (paris, shanghai, cancun) gets its own build, because a node on
an older hardfork cannot run a newer one's opcodes (PUSH0 since Shanghai). The settings differ only in
``evmVersion``, and in paris's optimizer runs (``RUNS_BY_TARGET``). The default target's files stay at the top of
``metering/artifacts/``; the others go to ``metering/artifacts/<target>/``
(see :func:`metering.chain.evm.artifact_dir`).

Usage: ``python tools/compile_contracts.py`` writes the artifacts; ``--check`` exits 1 if any is stale or stray.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from metering.chain.evm import EvmTarget, artifact_dir

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "contracts"
NODE_MODULES = ROOT / "node_modules"
SOLC = ROOT / "tools" / "solc"
ARTIFACTS = ROOT / "metering" / "artifacts"
SOLC_VERSION = "0.8.28"
# The contracts that get an artifact (the others are interfaces and libraries compiled into them).
DEPLOYABLE = ("Meter", "Settlement", "TestToken")

TARGETS = tuple(EvmTarget)

#: The settings of every build; ``evmVersion`` is filled in per target.
SETTINGS: dict[str, Any] = {
    # viaIR with 2000 runs: the contract's runtime code must stay under EIP-170's 24,576 bytes on every target
    # (tests/test_contract_size.py); more runs inline more and cost size, fewer cost gas on every call.
    "optimizer": {"enabled": True, "runs": 2000},
    "viaIR": True,
    "evmVersion": None,
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "evm.deployedBytecode.immutableReferences",
                "metadata",
                "devdoc",
                "userdoc",
            ]
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


#: Optimizer runs per target where they differ from ``SETTINGS``. Paris has no PUSH0, so every constant costs a
#: byte more: with the settlement hooks (issue 16) its Meter passed EIP-170 by about a hundred bytes at 2000 runs.
#: Fewer runs inline less; paris is the fallback build for old nodes, and the gas report measures cancun.
RUNS_BY_TARGET = {EvmTarget.PARIS: 1000}


def standard_input(target: EvmTarget, sources: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    settings = copy.deepcopy(SETTINGS)
    settings["evmVersion"] = target.value
    if target in RUNS_BY_TARGET:
        settings["optimizer"]["runs"] = RUNS_BY_TARGET[target]
    return {"language": "Solidity", "sources": sources or collect_sources(), "settings": settings}


def _compile_target(target: EvmTarget, sources: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """One target's artifacts, ``{path relative to metering/: JSON content}``."""
    import solcx  # dev-only dependency: imported here so the package never needs it

    std_input = standard_input(target, sources)
    output = solcx.compile_standard(std_input, solc_binary=SOLC, base_path=ROOT)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SystemExit("\n".join(e.get("formattedMessage", str(e)) for e in errors))
    folder = artifact_dir(target)
    files: dict[str, dict[str, Any]] = {f"{folder}/standard-input.json": std_input}
    for unit, contracts in output["contracts"].items():
        for name, data in contracts.items():
            if name not in DEPLOYABLE:
                continue
            files[f"{folder}/{name}.json"] = {
                "contractName": name,
                "sourceName": unit,
                "compiler": {"name": "solc", "version": SOLC_VERSION},
                "evmVersion": target.value,
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                # Where the runtime code holds immutables (zeros here, set by the constructor on chain).
                "immutableReferences": data["evm"]["deployedBytecode"].get("immutableReferences", {}),
                "metadata": data["metadata"],
                "devdoc": data["devdoc"],
                "userdoc": data["userdoc"],
            }
    return files


def compile_contracts(targets: Iterable[EvmTarget] = TARGETS) -> dict[str, dict[str, Any]]:
    """Compile every target and return ``{artifact path relative to metering/: JSON content}``, writing nothing.

    The targets compile side by side (each is its own solcjs process).
    """
    sources = collect_sources()
    chosen = list(targets)
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        builds = list(pool.map(lambda target: _compile_target(target, sources), chosen))
    return {path: content for build in builds for path, content in build.items()}


def render(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=1, sort_keys=True) + "\n"


def stale_artifacts(files: dict[str, dict[str, Any]]) -> list[str]:
    """Paths of artifacts whose shipped file differs from a fresh compile, and of shipped files no compile makes."""
    package = ARTIFACTS.parent
    stale = [
        path
        for path, content in files.items()
        if not (package / path).exists() or (package / path).read_text(encoding="utf-8") != render(content)
    ]
    shipped = {p.relative_to(package).as_posix() for p in ARTIFACTS.rglob("*.json")}
    return stale + sorted(shipped - set(files))


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
    package = ARTIFACTS.parent
    for path, content in files.items():
        (package / path).parent.mkdir(parents=True, exist_ok=True)
        (package / path).write_text(render(content), encoding="utf-8")
        print(f"wrote {(package / path).relative_to(ROOT)}")
    for stray in sorted({p.relative_to(package).as_posix() for p in ARTIFACTS.rglob("*.json")} - set(files)):
        (package / stray).unlink()
        print(f"removed {(ARTIFACTS.parent / stray).relative_to(ROOT)} (no target produces it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
