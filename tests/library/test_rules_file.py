"""Rules files: prices as people write them become exact micro-units; every kind of mistake is refused with the
file and the field named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from metering.audit.invoice import line_amount
from metering.contract import LimitMode
from metering.errors import RulesFileError
from metering.provider.rules_file import load_rules_file, parse_rules
from metering.types import Rules

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
timeframe: 3
currency: eur
types:
  db-server:
    id: 1
    price_per_activation: "0.50"
    price_per_time_unit: "0.12"
    time_unit: hour
    price_per_continuation: "0.05"
    included_activations: 10
    included_seconds: 36000
    max_concurrent: 3
    max_activations: 100
    mode: hard
  cache:
    id: 7
    price_per_activation: "0.0004"
    price_per_time_unit: "0"
    time_unit: 900
    mode: soft
"""


def _write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_valid_file_becomes_exact_micro_unit_rules(tmp_path: Path) -> None:
    parsed = load_rules_file(_write(tmp_path, VALID))
    assert (parsed.timeframe, parsed.currency) == (3, "EUR")
    assert [(t.name, t.instance_type) for t in parsed.types] == [("db-server", 1), ("cache", 7)]
    assert parsed.by_name("db-server").rules == Rules(
        price_per_activation=50_000_000, price_per_time_unit=12_000_000, time_unit_seconds=3_600,
        included_activations=10, included_seconds=36_000, max_concurrent=3, max_activations=100,
        mode=LimitMode.HARD, price_per_continuation=5_000_000,
    )
    assert parsed.by_name("cache").rules == Rules(price_per_activation=40_000, time_unit_seconds=900,
                                                  mode=LimitMode.SOFT)


def test_cents_and_fractions_of_a_cent_are_invoiced_to_the_cent(tmp_path: Path) -> None:
    """0.12 EUR per hour and 0.0004 USD per activation, from the file to an invoice line."""
    eur = parse_rules(VALID).by_name("db-server").rules
    assert line_amount(10 * 3_600, eur.price_per_time_unit, eur.time_unit_seconds) == 120  # 10 hours: 1.20 EUR
    assert line_amount(5_400, eur.price_per_time_unit, eur.time_unit_seconds) == 18  # 1.5 hours: 0.18 EUR
    usd = parse_rules(VALID.replace("currency: eur", "currency: USD")).by_name("cache").rules
    assert line_amount(25, usd.price_per_activation, 1) == 1  # 0.01 USD
    assert line_amount(2_499, usd.price_per_activation, 1) == 99  # 0.9996 USD, rounded down once


@pytest.mark.parametrize(("unit", "seconds"), [("second", 1), ("minute", 60), ("Hour", 3_600), ("day", 86_400),
                                               ("42", None), (42, 42)])
def test_time_units_by_name_or_in_seconds(unit: object, seconds: int | None) -> None:
    text = VALID.replace("time_unit: hour", f"time_unit: {json.dumps(unit) if unit == '42' else unit}")
    if seconds is None:  # a quoted number is not a unit name
        with pytest.raises(RulesFileError, match="time_unit: must be second, minute, hour, day"):
            parse_rules(text)
        return
    assert parse_rules(text).by_name("db-server").rules.time_unit_seconds == seconds


def test_the_shipped_example_is_valid() -> None:
    parsed = load_rules_file(ROOT / "examples" / "rules.yaml")
    db = parsed.by_name("db-server").rules
    assert (parsed.currency, db.price_per_time_unit, db.time_unit_seconds, db.max_concurrent) == (
        "EUR", 12_000_000, 3_600, 3)
    assert parsed.by_name("web-worker").rules.price_per_activation == 40_000


def test_json_files_are_read_as_json(tmp_path: Path) -> None:
    data = {"timeframe": 1, "currency": "JPY", "types": {"db": {
        "id": 1, "price_per_activation": "5", "price_per_time_unit": "0.5", "time_unit": "minute"}}}
    parsed = load_rules_file(_write(tmp_path, json.dumps(data), "rules.json"))
    assert parsed.by_name("db").rules == Rules(price_per_activation=5_000_000, price_per_time_unit=500_000,
                                               time_unit_seconds=60)


def test_the_currency_is_checked_against_the_timeframe_on_chain() -> None:
    parsed = parse_rules(VALID, source="rules.yaml")
    parsed.check_currency("EUR")
    with pytest.raises(RulesFileError, match=r"currency: the file prices timeframe 3 in EUR, but .* USD on chain"):
        parsed.check_currency("USD")


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ('price_per_time_unit: "0.12"', "price_per_time_unit: 0.12",
         "types.db-server.price_per_time_unit: must be a price in EUR written as quoted text"),
        ('price_per_activation: "0.50"', "price_per_activation: 50",
         "types.db-server.price_per_activation: must be a price in EUR written as quoted text, e.g. \"0.12\", got 50"),
        ('price_per_activation: "0.50"', 'price_per_activation: "-5"',
         "types.db-server.price_per_activation: the price must be a non-negative number, got '-5'"),
        ('price_per_activation: "0.50"', 'price_per_activation: "0.000000001"',
         "types.db-server.price_per_activation: the price 0.000000001 EUR is finer than a millionth of the minor unit"),
        ('price_per_activation: "0.50"', 'price_per_activation: "half"',
         "types.db-server.price_per_activation: the price: 'half' is not a number"),
        ('price_per_activation: "0.50"', 'price_per_activation: "3000000"',
         "types.db-server: price_per_activation must be between 0 and 281474976710655"),
        ("max_concurrent: 3", "max_concurent: 3", "types.db-server.max_concurent: unknown key"),
        ("max_concurrent: 3", "max_concurrent: 100", "types.db-server.max_concurrent: must be at most 99"),
        ("max_concurrent: 3", "max_concurrent: 2.5", "types.db-server.max_concurrent: must be a non-negative integer"),
        ("max_concurrent: 3", "max_concurrent: true", "types.db-server.max_concurrent: must be a non-negative integer"),
        ("    time_unit: hour\n", "", "types.db-server.time_unit: missing (required)"),
        ("time_unit: hour", "time_unit: fortnight", "types.db-server.time_unit: must be second, minute, hour, day"),
        ("time_unit: hour", "time_unit: 0", "types.db-server.time_unit: must be second, minute, hour, day"),
        ('    price_per_time_unit: "0.12"\n', "", "types.db-server.price_per_time_unit: missing (required)"),
        ("id: 7", "id: 1", "types.cache.id: id 1 is already used by type 'db-server'"),
        ("mode: hard", "mode: strict", "types.db-server.mode: must be 'hard' or 'soft', got 'strict'"),
        ("included_seconds: 36000", "included_seconds: 4294967296",
         "types.db-server.included_seconds: must be at most 4294967295"),
        ("id: 1", "id: 70000", "types.db-server.id: must be at most 65535"),
        ("timeframe: 3", "timeframe: 0", "timeframe: must be the id of an existing timeframe"),
        ("timeframe: 3", "timeframes: 3", "rules.yaml: timeframes: unknown key"),
        ("currency: eur", "currency: euro", "currency: unknown currency code 'euro'"),
        ("currency: eur\n", "", "currency: missing (required)"),
        ("  cache:\n", "  db-server:\n", "duplicate key 'db-server' (line 15)"),
    ],
)
def test_mistakes_are_refused_with_the_field_named(tmp_path: Path, replace: str, by: str, message: str) -> None:
    assert replace in VALID
    path = _write(tmp_path, VALID.replace(replace, by, 1))
    with pytest.raises(RulesFileError) as caught:
        load_rules_file(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith("rules.yaml: ")


def test_an_old_minor_unit_file_is_refused_not_misread() -> None:
    old = "timeframe: 1\ntypes:\n  db:\n    id: 1\n    price_per_activation: 500\n    price_per_second: 2\n"
    with pytest.raises(RulesFileError, match="currency: missing"):
        parse_rules(old, source="old.yaml")
    with pytest.raises(RulesFileError, match="price_per_second: unknown key"):
        parse_rules(old.replace("timeframe: 1\n", "timeframe: 1\ncurrency: EUR\n"), source="old.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a mapping"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("timeframe: 1\ncurrency: EUR\n", "types: missing (required)"),
        ("timeframe: 1\ncurrency: EUR\ntypes: {}\n", "types: must map at least one type name"),
        ("timeframe: 1\ncurrency: EUR\ntypes:\n  db: 5\n", "types.db: must be a mapping of rule fields"),
        ("timeframe: [1\n", "not valid YAML (line 2"),
    ],
)
def test_malformed_documents(text: str, message: str) -> None:
    with pytest.raises(RulesFileError, match=r"^r.yaml: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_rules(text, source="r.yaml")


def test_bad_json_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match=r"rules.json: not valid JSON \(line 1"):
        load_rules_file(_write(tmp_path, "{", "rules.json"))
    with pytest.raises(RulesFileError, match="duplicate key 'timeframe'"):
        load_rules_file(_write(tmp_path, '{"timeframe": 1, "timeframe": 2}', "rules.json"))
    data = {"timeframe": 1, "currency": "EUR", "types": {"db": {
        "id": 1, "price_per_activation": 0.5, "price_per_time_unit": "1", "time_unit": "hour"}}}
    with pytest.raises(RulesFileError, match=r"price_per_activation: must be a price in EUR written as.*got 0.5"):
        load_rules_file(_write(tmp_path, json.dumps(data), "floats.json"))
    with pytest.raises(RulesFileError, match="no such rules file"):
        load_rules_file(tmp_path / "missing.yaml")


def test_importing_the_module_does_not_import_pyyaml() -> None:
    code = "import sys, metering.provider.rules_file; assert 'yaml' not in sys.modules, 'yaml imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
