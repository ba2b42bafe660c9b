"""Billing rules as a file a provider can review: YAML (or JSON), checked strictly before anything is sent.

Rules become frozen on chain once their timeframe starts, so a typo must be caught here, with the file and the field
named, not discovered on an invoice. The format::

    timeframe: 1            # id of an existing timeframe (rules are set before it starts)
    types:
      db-server:            # a name for people; the id is what the chain stores
        id: 1               # instance type id, 0..65535
        price_per_activation: 500   # minor units of the timeframe's currency (cents for EUR)
        price_per_second: 2
        included_activations: 10    # optional, default 0
        included_seconds: 36000     # optional, default 0
        max_concurrent: 3           # optional, 0 = no limit
        max_activations: 100        # optional, 0 = no limit
        mode: hard                  # optional: hard (deny beyond a limit, default) | soft (grant as overage)

Required: ``timeframe``, ``types`` (at least one), and per type ``id``, ``price_per_activation`` and
``price_per_second``. Rejected, with the field path in the message: unknown keys (a misspelt limit would silently be
"no limit"), duplicate keys, duplicate ids, money or counts that are not non-negative integers (``0.5`` is refused:
prices are integer minor units, never floats), values beyond the contract's integer widths, and unknown modes.
Files ending in ``.json`` are read as JSON, anything else as YAML.

>>> rules = load_rules_file(Path("examples/rules.yaml"))     # doctest: +SKIP
>>> rules.types[0].name, rules.types[0].rules.price_per_second   # doctest: +SKIP
('db-server', 2)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metering._utils.strict_yaml import load_strict_yaml
from metering.contract import LimitMode
from metering.errors import RulesFileError
from metering.types import UINT32_MAX, UINT64_MAX, UINT128_MAX, Rules

__all__ = ["RulesFile", "TypeRules", "load_rules_file", "parse_rules"]

UINT16_MAX = 2**16 - 1

#: Per field: its bound, and whether it is required.
_FIELDS: dict[str, tuple[int, bool]] = {
    "id": (UINT16_MAX, True),
    "price_per_activation": (UINT128_MAX, True),
    "price_per_second": (UINT128_MAX, True),
    "included_activations": (UINT64_MAX, False),
    "included_seconds": (UINT64_MAX, False),
    "max_concurrent": (UINT32_MAX, False),
    "max_activations": (UINT32_MAX, False),
}
_MONEY = {"price_per_activation", "price_per_second"}
_MODES = {"hard": LimitMode.HARD, "soft": LimitMode.SOFT}


@dataclass(frozen=True)
class TypeRules:
    """The rules of one instance type: its human ``name``, its on-chain id, and the validated :class:`Rules`."""

    name: str
    instance_type: int
    rules: Rules


@dataclass(frozen=True)
class RulesFile:
    """A validated rules file: the timeframe it targets and the rules of each instance type, in file order."""

    source: str
    timeframe: int
    types: tuple[TypeRules, ...]

    def by_name(self, name: str) -> TypeRules:
        for entry in self.types:
            if entry.name == name:
                return entry
        raise KeyError(name)


def load_rules_file(path: Path) -> RulesFile:
    """Reads and validates the rules file at ``path``.

    :raises RulesFileError: unreadable, not YAML/JSON, or invalid; the message starts with the file name and names
        the field (``rules.yaml: types.db-server.price_per_second: ...``).
    """
    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesFileError(f"{path}: no such rules file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesFileError(f"{path}: cannot read it ({exc})") from None
    return parse_rules(text, source=name, json_format=path.suffix.lower() == ".json")


def parse_rules(text: str, *, source: str = "<rules>", json_format: bool = False) -> RulesFile:
    """Validates rules given as YAML (or JSON) text; ``source`` names it in error messages.

    YAML needs PyYAML (``pip install "metering[cli]"``), else :class:`~metering.errors.MissingDependencyError`; JSON
    needs nothing beyond the library.
    """
    try:
        data = json.loads(text, object_pairs_hook=_json_pairs) if json_format else load_strict_yaml(text)
    except RulesFileError as exc:
        raise RulesFileError(f"{source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RulesFileError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    return _validate(data, source)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RulesFileError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _fail(source: str, path: str, message: str) -> RulesFileError:
    return RulesFileError(f"{source}: {path}: {message}" if path else f"{source}: {message}")


def _integer(source: str, path: str, value: Any, bound: int, *, money: bool = False) -> int:
    what = "a non-negative integer (minor units)" if money else "a non-negative integer"
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(source, path, f"must be {what}, got {value!r}")
    if value < 0:
        raise _fail(source, path, f"must be {what}, got {value}")
    if value > bound:
        raise _fail(source, path, f"must be at most {bound}, got {value}")
    return value


def _check_keys(source: str, path: str, data: Mapping[Any, Any], allowed: set[str], required: set[str]) -> None:
    for key in data:
        if key not in allowed:
            hint = ", ".join(sorted(allowed))
            raise _fail(source, f"{path}.{key}" if path else str(key), f"unknown key (expected one of: {hint})")
    for key in sorted(required):
        if key not in data:
            raise _fail(source, f"{path}.{key}" if path else key, "missing (required)")


def _validate(data: Any, source: str) -> RulesFile:
    if not isinstance(data, Mapping):
        raise _fail(source, "", "must be a mapping with the keys 'timeframe' and 'types'")
    _check_keys(source, "", data, {"timeframe", "types"}, {"timeframe", "types"})
    timeframe = _integer(source, "timeframe", data["timeframe"], UINT16_MAX)
    if timeframe == 0:
        raise _fail(source, "timeframe", "must be the id of an existing timeframe (ids start at 1), got 0")
    types = data["types"]
    if not isinstance(types, Mapping) or not types:
        raise _fail(source, "types", "must map at least one type name to its rules")
    entries: list[TypeRules] = []
    seen_ids: dict[int, str] = {}
    for name, spec in types.items():
        path = f"types.{name}"
        if not isinstance(name, str) or not name.strip():
            raise _fail(source, path, "a type name must be a non-empty string")
        if not isinstance(spec, Mapping):
            raise _fail(source, path, "must be a mapping of rule fields")
        _check_keys(source, path, spec, {*_FIELDS, "mode"}, {k for k, (_, req) in _FIELDS.items() if req})
        values = {
            key: _integer(source, f"{path}.{key}", spec[key], bound, money=key in _MONEY)
            for key, (bound, _) in _FIELDS.items()
            if key in spec
        }
        mode_text = spec.get("mode", "hard")
        if not isinstance(mode_text, str) or mode_text.lower() not in _MODES:
            raise _fail(source, f"{path}.mode", f"must be 'hard' or 'soft', got {mode_text!r}")
        instance_type = values.pop("id")
        if instance_type in seen_ids:
            raise _fail(source, f"{path}.id", f"id {instance_type} is already used by type {seen_ids[instance_type]!r}")
        seen_ids[instance_type] = name
        rules = Rules(**values, mode=_MODES[mode_text.lower()])
        entries.append(TypeRules(name=name, instance_type=instance_type, rules=rules))
    return RulesFile(source=source, timeframe=timeframe, types=tuple(entries))
