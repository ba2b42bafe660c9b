"""The library-only install, checked as an agent would use it: run by a fresh virtualenv that has nothing but
``pip install .`` (no extras), from the repository root (for the pinned anvil in node_modules).

It proves that ``import metering`` and a whole activation work with web3, eth-account and coincurve alone: the
``cli`` extra's typer, rich, PyYAML and platformdirs and the ``audit`` extra's iso4217 and rfc8785 are not even
installed. The provider's side of the world (a timeframe priced in EUR) is set up by the repository's own ``.venv``,
which has every extra, as a provider's machine would. A rules file, which prices in a currency, asks for the
``audit`` extra, a YAML one for the ``cli`` extra, and the ``metering`` console script says what to install instead
of failing with a traceback. ``./run libcheck`` (and so
``./run test`` and CI) builds the virtualenv and runs this.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

CLI_ONLY = ("typer", "rich", "yaml", "platformdirs", "iso4217", "rfc8785")

#: The provider's set-up, run by the repository's .venv (every extra): a Meter with a EUR timeframe, a customer and
#: an agent, then one block past the timeframe's start. Prints the Meter's address.
PROVIDER_SETUP = """
import sys
from eth_account import Account
from metering import Provider, connect
from metering.chain.node import dev_private_keys
from metering.types import Rules
admin, agent, customer = (Account.from_key(k) for k in dev_private_keys(3))
w3 = connect(sys.argv[1])
provider = Provider.deploy(w3, admin)
start = provider.chain_time() + 60
timeframe = provider.create_timeframe(start, start + 86_400, "EUR")
provider.set_rules(timeframe, 1, Rules(price_per_activation=500_000, price_per_time_unit=12_000_000,
                                       time_unit_seconds=3600, max_concurrent=2, max_activations=10))
provider.enroll_customer(customer.address)
provider.grant_agent(agent.address)
w3.provider.make_request("evm_increaseTime", [120])
w3.provider.make_request("evm_mine", [])
print(provider.address)
"""


def main() -> None:
    installed = [name for name in CLI_ONLY if importlib.util.find_spec(name) is not None]
    assert not installed, f"`pip install .` brought in the cli or audit extra's packages: {installed}"

    import metering
    from metering import Agent, Granted, MissingDependencyError, connect, load_rules_file
    from metering.chain.node import LocalNode, dev_private_keys

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert site in Path(metering.__file__).resolve().parents, f"metering imported from {metering.__file__}, not {site}"

    keys = dev_private_keys(3)
    from eth_account import Account

    _, agent_key, customer = (Account.from_key(k) for k in keys)
    with LocalNode() as node:
        provider_python = Path(".venv/bin/python").absolute()  # not resolved: the venv is its link
        setup = subprocess.run([str(provider_python), "-c", PROVIDER_SETUP, node.rpc_url], capture_output=True,
                               text=True, timeout=300, check=True)
        meter = setup.stdout.strip().splitlines()[-1]
        w3 = connect(node.rpc_url)
        agent = Agent(w3, meter, agent_key)
        result = agent.activate(customer.address, 1, 600)
        assert isinstance(result, Granted), result

    with tempfile.TemporaryDirectory() as tmp:
        rules_json = Path(tmp) / "rules.json"
        rules_json.write_text(json.dumps({"timeframe": 1, "currency": "EUR", "types": {"db": {
            "id": 1, "price_per_activation": "0.50", "price_per_time_unit": "0.12", "time_unit": "hour"}}}),
            encoding="utf-8")
        try:
            load_rules_file(rules_json)
        except MissingDependencyError as exc:
            assert "metering[audit]" in str(exc), exc
        else:
            raise AssertionError("a rules file priced in EUR loaded without ISO 4217's table")
        rules_yaml = Path(tmp) / "rules.yaml"
        rules_yaml.write_text("timeframe: 1\n", encoding="utf-8")
        try:
            load_rules_file(rules_yaml)
        except MissingDependencyError as exc:
            assert "metering[cli]" in str(exc), exc
        else:
            raise AssertionError("a YAML rules file loaded without PyYAML")

    loaded = sorted(name for name in CLI_ONLY if name in sys.modules)
    assert not loaded, f"the library imported {loaded}"

    script = Path(sys.executable).with_name("metering")
    run = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 3 and "Traceback" not in run.stderr, run
    assert 'pip install "metering[cli]"' in run.stderr, run.stderr

    print(f"library-only install OK: metering {metering.__version__} activated on anvil ({type(result).__name__}) "
          f"without {', '.join(CLI_ONLY)}; rules files ask for the audit extra, YAML and the CLI for the cli extra")


if __name__ == "__main__":
    main()
