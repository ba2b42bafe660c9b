"""Rules files: a valid file becomes Rules; every kind of mistake is refused with the file and the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metering.contract import LimitMode
from metering.errors import RulesFileError
from metering.rules_file import load_rules_file, parse_rules
from metering.types import Rules

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
timeframe: 3
types:
  db-server:
    id: 1
    price_per_activation: 500
    price_per_second: 2
    included_activations: 10
    included_seconds: 36000
    max_concurrent: 3
    max_activations: 100
    mode: hard
  cache:
    id: 7
    price_per_activation: 0
    price_per_second: 1
    mode: soft
"""


def _write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_valid_file_becomes_validated_rules(tmp_path: Path) -> None:
    parsed = load_rules_file(_write(tmp_path, VALID))

    assert parsed.timeframe == 3
    assert [(t.name, t.instance_type) for t in parsed.types] == [("db-server", 1), ("cache", 7)]
    assert parsed.by_name("db-server").rules == Rules(500, 2, 10, 36000, 3, 100, LimitMode.HARD)
    assert parsed.by_name("cache").rules == Rules(0, 1, mode=LimitMode.SOFT)


def test_the_shipped_example_is_valid() -> None:
    parsed = load_rules_file(ROOT / "examples" / "rules.yaml")
    assert parsed.by_name("db-server").rules.max_concurrent == 3


def test_json_files_are_read_as_json(tmp_path: Path) -> None:
    data = {"timeframe": 1, "types": {"db": {"id": 1, "price_per_activation": 5, "price_per_second": 1}}}
    parsed = load_rules_file(_write(tmp_path, json.dumps(data), "rules.json"))
    assert parsed.by_name("db").rules == Rules(5, 1)


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("price_per_second: 2", "price_per_second: 0.5",
         "rules.yaml: types.db-server.price_per_second: must be a non-negative integer (minor units), got 0.5"),
        ("price_per_activation: 500", "price_per_activation: -5",
         "types.db-server.price_per_activation: must be a non-negative integer (minor units), got -5"),
        ("price_per_activation: 500", 'price_per_activation: "500"',
         "types.db-server.price_per_activation: must be a non-negative integer (minor units), got '500'"),
        ("max_concurrent: 3", "max_concurent: 3", "types.db-server.max_concurent: unknown key"),
        ("    price_per_second: 2\n", "", "types.db-server.price_per_second: missing (required)"),
        ("id: 7", "id: 1", "types.cache.id: id 1 is already used by type 'db-server'"),
        ("mode: hard", "mode: strict", "types.db-server.mode: must be 'hard' or 'soft', got 'strict'"),
        ("max_concurrent: 3", "max_concurrent: 4294967296",
         "types.db-server.max_concurrent: must be at most 4294967295"),
        ("max_concurrent: 3", "max_concurrent: true", "types.db-server.max_concurrent: must be a non-negative integer"),
        ("id: 1", "id: 70000", "types.db-server.id: must be at most 65535"),
        ("timeframe: 3", "timeframe: 0", "timeframe: must be the id of an existing timeframe"),
        ("timeframe: 3", "timeframes: 3", "rules.yaml: timeframes: unknown key"),
        ("  cache:\n", "  db-server:\n", "duplicate key 'db-server' (line 12)"),
    ],
)
def test_mistakes_are_refused_with_the_field_named(tmp_path: Path, replace: str, by: str, message: str) -> None:
    assert replace in VALID
    path = _write(tmp_path, VALID.replace(replace, by, 1))
    with pytest.raises(RulesFileError) as caught:
        load_rules_file(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith("rules.yaml: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a mapping"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("timeframe: 1\n", "types: missing (required)"),
        ("timeframe: 1\ntypes: {}\n", "types: must map at least one type name"),
        ("timeframe: 1\ntypes:\n  db: 5\n", "types.db: must be a mapping of rule fields"),
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
    with pytest.raises(RulesFileError, match="no such rules file"):
        load_rules_file(tmp_path / "missing.yaml")
