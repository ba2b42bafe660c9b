"""The settlement commands end to end on anvil: deposit, balance, a refused withdrawal, settle, payouts, withdraw;
and their bad input (one line, exit 3, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from web3 import Web3

from metering.cli import app
from metering.contract import currency_to_bytes
from metering.types import Rules
from metering.web.escrow import escrow_card
from tests.cli.helpers import ENV_VARS, as_json, fails, key_hex, ok, plain

from .conftest import PAYEE, Escrowed


def _cli(node: Any, *args: str, key: str | None = None, **env: str | None) -> Any:
    base: dict[str, str | None] = dict.fromkeys(ENV_VARS)
    base.update(ETH_RPC_URL=node.rpc_url, METERING_PRIVATE_KEY=key, METERING_SETTLEMENT=None)
    base.update(env)
    return CliRunner().invoke(app, list(args), env=base)


def _lean_as_web3(node: Any, args: list[str], dump: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """``metering ARGS`` as the console script runs it loads no web3 (issue 20) and prints what the same command
    prints with its reads through web3's :class:`SettlementClient`; its output."""
    from metering.chain import connect
    from metering.settlement import SettlementClient

    proc_env = {k: v for k, v in os.environ.items() if not k.startswith(("METERING_", "ETH_"))}
    proc_env.update(ETH_RPC_URL=node.rpc_url, METERING_DUMP_MODULES=str(dump), COLUMNS="200", **env)
    entry = "import sys\nsys.argv = ['metering', *sys.argv[1:]]\nfrom metering._entry import main\nmain()\n"
    done = subprocess.run([sys.executable, "-c", entry, *args], env=proc_env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    modules = set(dump.read_text(encoding="utf-8").split())
    assert "metering.cli._common" in modules and not {"web3", "eth_account", "aiohttp"} & modules, args
    with monkeypatch.context() as patch:
        patch.setattr("metering.cli.settlement_cmds._reader",
                      lambda on, address: SettlementClient(connect(on.rpc_url), str(address), None))
        through_web3 = ok(_cli(node, *args, COLUMNS="200", **env)).stdout
    assert done.stdout == through_web3, args
    return done.stdout


def test_deposit_balance_settle_payouts_withdraw(
    escrowed: Escrowed, w3: Web3, chain: Any, actors: Any, node: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    meter, settlement = escrowed.meter, escrowed.settlement
    token, upm = escrowed.tokens["EUR"]
    admin, agent, customer = actors.admin.address, actors.agent.address, actors.customers[3]
    start = chain.now() + 50
    tf = meter.functions.timeframeCount().call() + 1
    for fn in (
        meter.functions.createTimeframe(start, start + 3600, currency_to_bytes("EUR")),
        meter.functions.setRules(tf, 1, Rules(price_per_activation=40_000, price_per_time_unit=12_000_000,
                                              time_unit_seconds=3600).as_tuple()),
        meter.functions.enrollCustomer(customer.address),
        token.functions.mint(customer.address, 5 * 100 * upm),
    ):
        assert w3.eth.wait_for_transaction_receipt(fn.transact({"from": admin}))["status"] == 1
    s = {"METERING_SETTLEMENT": settlement.address}
    me = key_hex(customer)

    out = plain(ok(_cli(node, "customer", "deposit", "1.00", "--currency", "EUR", key=me, **s)).stdout)
    assert "deposited 1.00 EUR (1 EURT)" in out
    balance = as_json(ok(_cli(node, "customer", "balance", customer.address, "--json", **s)))
    assert balance["prepaid"] is True
    assert balance["balance"]["amount"] == "1.00" and balance["balance"]["symbol"] == "EURT"

    chain.set_next_timestamp(start)
    tx = meter.functions.requestActivation(customer.address, 1, (1 << 8) | 1, 3600).transact({"from": agent})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1  # commits 12.04 cents: 13 held
    fails(_cli(node, "customer", "withdraw", "1.00", key=me, **s), 3, "0.87 EUR", "is free to withdraw")
    fails(_cli(node, "settle", customer.address, "-t", str(tf), key=key_hex(actors.outsider), **s), 5,
          "SettlementTimeframeNotEnded")

    chain.mine(start + 3600)
    settled = as_json(ok(_cli(node, "settle", customer.address, "-t", str(tf), "--json",
                              key=key_hex(actors.outsider), **s)))
    assert settled[0]["amount"] == "0.12" and settled[0]["paid"]["units"] == 12 * upm
    assert settled[0]["payee"] == Web3.to_checksum_address(PAYEE)
    payouts = as_json(ok(_cli(node, "provider", "payouts", "-t", str(tf), "--json", **s)))
    assert payouts["totals"]["EUR"]["amount"] == "0.12"
    assert payouts["totals"]["EUR"]["symbol"] == "EURT"
    for args in (["provider", "payouts", "-t", str(tf)], ["provider", "payouts", "--customer", customer.address],
                 ["customer", "balance", customer.address], ["customer", "balance", actors.customers[4].address]):
        for json_out in ([], ["--json"]):
            said = _lean_as_web3(node, [*args, *json_out], tmp_path / "modules", monkeypatch, **s)
            assert ("EURT" in said) != (args[-1] == actors.customers[4].address), said
    # the auditor's check of the final invoice against its payment, and the PDF saying paid: no web3 either
    audit = {**s, "METERING_CONTRACT": meter.address, "METERING_DB": str(tmp_path / "events.sqlite")}
    final = tmp_path / "final.json"
    ok(_cli(node, "invoice", "--customer", customer.address, "--timeframe", str(tf), "-o", str(final), **audit))
    for json_out in ([], ["--json"]):
        said = _lean_as_web3(node, ["verify", str(final), *json_out], tmp_path / "modules", monkeypatch, **audit)
        assert "settled" in said and "differences\": [\n" not in said, said
    pdf = tmp_path / "final.pdf"
    _lean_as_web3(node, ["invoice", "--customer", customer.address, "--timeframe", str(tf), "--format", "pdf",
                         "-o", str(pdf)], tmp_path / "modules", monkeypatch, **audit)
    import pypdf

    assert "PAID: 0.12 EUR" in "\n".join(page.extract_text() for page in pypdf.PdfReader(str(pdf)).pages)
    out = plain(ok(_cli(node, "customer", "withdraw", key=me, **s)).stdout)
    assert "withdrew 0.88 EUR (0.88 EURT)" in out
    assert token.functions.balanceOf(customer.address).call() == 5 * 100 * upm - 12 * upm

    # The web view's escrow card shows the same, and the PDF of a settled invoice says paid.
    card = escrow_card(w3, settlement.address, customer.address)
    assert card is not None and card.prepaid and card.balance == "0.00 EUR (0 EURT)"
    assert [(row.timeframe, row.amount, row.paid) for row in card.settlements] == [
        (tf, "0.12 EUR", "0.12 EUR (0.12 EURT)")
    ]
    assert escrow_card(w3, None, customer.address) is None
    postpaid = escrow_card(w3, settlement.address, actors.customers[4].address)
    assert postpaid is not None and not postpaid.prepaid


def test_bad_input_is_one_line_and_exit_3(node: Any, actors: Any) -> None:
    fails(_cli(node, "customer", "deposit", "1", "--currency", "EUR", key=key_hex(actors.admin)), 3,
          "no Settlement contract")
    fails(_cli(node, "settle", actors.admin.address, METERING_SETTLEMENT=actors.admin.address), 3,
          "--timeframe")
    fails(_cli(node, "settle", "-t", "1", METERING_SETTLEMENT=actors.admin.address), 3, "or --all")
    fails(_cli(node, "customer", "balance", actors.admin.address, METERING_SETTLEMENT=actors.admin.address), 3,
          "no contract at")


def test_the_pdf_of_a_settled_invoice_says_paid_with_its_transaction(tmp_path: Any) -> None:
    import pypdf

    from metering.audit.invoice import compute_invoices
    from metering.audit.invoice_pdf import invoice_pdf
    from metering.types import Timeframe

    inv = compute_invoices(Timeframe(1, 100, 200, "EUR"), {1: Rules()}, (), chain_id=1,
                           contract="0x" + "11" * 20, from_block=0, to_block=1, customers=["0x" + "22" * 20])
    invoice = next(iter(inv.values()))
    path = tmp_path / "paid.pdf"
    path.write_bytes(invoice_pdf(invoice, paid="0.00 EUR (0 EURT) settled on chain, transaction 0xabc"))
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(str(path)).pages)
    assert "PAID: 0.00 EUR (0 EURT) settled on chain, transaction 0xabc" in text
    path.write_bytes(invoice_pdf(invoice))
    assert "PAID" not in "\n".join(page.extract_text() for page in pypdf.PdfReader(str(path)).pages)
