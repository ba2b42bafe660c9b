"""What ``pip install metering`` and ``pip install "metering[cli]"`` promise, checked without installing anything
(``./run libcheck`` does the real fresh install): the library's modules never import the command line's packages,
and the pinned locks satisfy the bounds in pyproject.toml."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import metering

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CLI_ONLY = ("typer", "rich", "yaml", "platformdirs")

#: Every module of the library, i.e. everything an agent may import (the CLI and the demo are the cli extra's).
def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: Every module an agent may import: all but the command line (the cli extra) and the web view (the web extra).
LIBRARY_MODULES = sorted(
    _module(path)
    for path in (ROOT / "metering").rglob("*.py")
    if not {"cli", "web"} & set(path.relative_to(ROOT / "metering").parts) and path.stem not in {"demo", "__main__"}
)


def _lock(name: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements" / name).read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            package, version = line.split("==", 1)
            pins[package.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_the_library_depends_on_web3_eth_account_and_coincurve_only_each_with_an_upper_bound() -> None:
    """What an agent installs: nothing else (the brief's rule for agents)."""
    requirements = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    assert sorted(r.name.lower() for r in requirements) == ["coincurve", "eth-account", "web3"]
    for requirement in requirements:
        assert any(spec.operator == "<" for spec in requirement.specifier), requirement


def test_the_audit_extra_is_two_small_data_packages_without_dependencies_of_their_own() -> None:
    """rfc8785 (the invoice's canonical JSON) and iso4217 (minor units) replaced hand-written code; both are pure
    Python without dependencies of their own (pyproject.toml says why each)."""
    requirements = [Requirement(text) for text in PYPROJECT["project"]["optional-dependencies"]["audit"]]
    assert sorted(r.name.lower() for r in requirements) == ["iso4217", "rfc8785"]
    for small in ("rfc8785", "iso4217"):
        declared = [Requirement(text) for text in importlib.metadata.requires(small) or []]
        runtime = [r for r in declared if r.marker is None or r.marker.evaluate({"extra": ""})]
        assert not runtime, f"{small} now brings dependencies of its own: {runtime}"
    for requirement in requirements:
        assert any(spec.operator == "<" for spec in requirement.specifier), requirement


def test_the_cli_extra_adds_typer_rich_pyyaml_and_platformdirs_each_with_an_upper_bound_and_the_audit_extra(
) -> None:
    requirements = [Requirement(text) for text in PYPROJECT["project"]["optional-dependencies"]["cli"]]
    assert sorted(r.name.lower() for r in requirements) == ["metering", "platformdirs", "pyyaml", "rich", "typer"]
    assert [r.extras for r in requirements if r.name == "metering"] == [{"audit"}]
    requirements = [r for r in requirements if r.name != "metering"]
    for requirement in requirements:
        assert any(spec.operator == "<" for spec in requirement.specifier), requirement


@pytest.mark.parametrize("extra", ["", "cli", "audit"])
def test_dev_lock_pins_versions_inside_the_bounds(extra: str) -> None:
    pins = _lock("dev.lock")
    texts = PYPROJECT["project"]["optional-dependencies"][extra] if extra else PYPROJECT["project"]["dependencies"]
    for requirement in map(Requirement, texts):
        if requirement.name == "metering":
            continue
        pinned = pins.get(requirement.name.lower())
        assert pinned is not None, f"{requirement.name} is not in requirements/dev.lock"
        assert requirement.specifier.contains(pinned), f"dev.lock pins {requirement.name}=={pinned}: not {requirement}"


def test_brownie_lock_pins_the_library_dependencies_inside_the_bounds() -> None:
    pins = _lock("brownie.lock")  # metering is installed there without deps, next to Brownie's own pins
    for requirement in map(Requirement, PYPROJECT["project"]["dependencies"]):
        assert requirement.specifier.contains(pins[requirement.name.lower()]), requirement


def test_no_library_module_imports_a_cli_package() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {LIBRARY_MODULES!r}: importlib.import_module(name)\n"
        f"loaded = [m for m in {CLI_ONLY!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "metering.agent" in LIBRARY_MODULES and "metering.provider.rules_file" in LIBRARY_MODULES


def test_version_is_written_once() -> None:
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "metering.__version__"}
    assert metering.__version__.count(".") == 2


def test_every_name_the_package_exports_resolves_to_its_module() -> None:
    import metering

    for name in metering.__all__:
        assert getattr(metering, name) is not None, name


def test_an_agent_imports_neither_audit_package() -> None:
    """The agent's path (the package, the agent, the sender) needs web3, eth-account and coincurve only: the audit
    extra's packages load on first use of a currency or a canonical invoice, never on import."""
    code = (
        "import sys\n"
        "import metering, metering.agent, metering.chain.sender, metering.contract, metering.types\n"
        "loaded = [m for m in ('iso4217', 'rfc8785') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
