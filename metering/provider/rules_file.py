"""Billing rules as a file a provider can review: YAML (or JSON), checked strictly before anything is sent.

Rules become frozen on chain once their timeframe starts, so a typo must be caught here, with the file and the field
named, not discovered on an invoice. Prices are written as people say them, in the timeframe's currency, and
converted exactly into the contract's micro-units (:func:`metering.money.parse_price`). The format::

    timeframe: 1                      # id of an existing timeframe (rules are set before it starts)
    currency: EUR                     # the timeframe's currency (checked against the chain); prices are in it
    types:
      db-server:                      # a name for people; the id is what the chain stores
        id: 1                         # instance type id, 0..65535
        price_per_activation: "0.50"  # EUR per start
        price_per_time_unit: "0.12"   # EUR per time unit of running time...
        time_unit: hour               # ...here an hour: second, minute, hour, day, or a number of seconds (900)
        price_per_continuation: "0"   # optional: EUR per lease carried over from the previous timeframe
        included_activations: 10      # optional, default 0
        included_seconds: 36000       # optional, default 0
        max_concurrent: 3             # optional, 0 = no limit, at most 99
        max_activations: 100          # optional, 0 = no limit
        max_lease_seconds: 3600       # optional, 0 = no limit but the timeframe's end: the longest lease an agent
                                      # gets on a grant, renewal or continuation, so how long an instance runs
                                      # past its agent's last renewal (and past a revoke)
        mode: hard                    # optional: hard (deny beyond a limit, default) | soft (grant as overage)

So ``0.12 EUR per hour`` is ``price_per_time_unit: "0.12"`` with ``time_unit: hour``, and ``0.0004 USD per
activation`` is ``price_per_activation: "0.0004"`` with ``currency: USD``; both are exact on chain and on invoices.

**Prices are quoted decimal text** in the currency's major unit, down to a millionth of its minor unit. A YAML or
JSON number is refused for a price: an unquoted ``0.12`` is a binary float in YAML (not exact), and an integer
would be ambiguous with the minor-unit prices of older files (``500`` meant 5.00 EUR there). Counts, seconds and
ids are plain integers.

Required: ``timeframe``, ``currency``, ``types`` (at least one), and per type ``id``, ``price_per_activation``,
``price_per_time_unit`` and ``time_unit``. Rejected, with the field path in the message: unknown keys (a misspelt
limit would silently be "no limit"), duplicate keys, duplicate ids, unknown currencies, prices that are not text,
negative or finer than a micro-unit, counts that are not non-negative integers, values beyond the contract's
integer widths, and unknown modes or time units. Files ending in ``.json`` are read as JSON, anything else as YAML
(PyYAML is needed only for YAML, and imported only then).

>>> rules = load_rules_file(Path("examples/rules.yaml"))       # doctest: +SKIP
>>> rules.types[0].name, rules.types[0].rules.price_per_time_unit  # doctest: +SKIP
('db-server', 12000000)
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
from metering.money import normalize_currency, parse_price
from metering.types import MAX_CONCURRENT, UINT16_MAX, UINT24_MAX, UINT32_MAX, Rules

__all__ = ["TIME_UNITS", "RulesFile", "TypeRules", "load_rules_file", "parse_rules"]

#: Count fields: their bound, and whether they are required.
_COUNTS: dict[str, tuple[int, bool]] = {
    "id": (UINT16_MAX, True),
    "included_activations": (UINT32_MAX, False),
    "included_seconds": (UINT32_MAX, False),
    "max_concurrent": (MAX_CONCURRENT, False),
    "max_activations": (UINT32_MAX, False),
    "max_lease_seconds": (UINT32_MAX, False),
}
#: Price fields (decimal text in the currency): whether they are required.
_PRICES: dict[str, bool] = {
    "price_per_activation": True,
    "price_per_time_unit": True,
    "price_per_continuation": False,
}
_MODES = {"hard": LimitMode.HARD, "soft": LimitMode.SOFT}
#: Named time units and their seconds; ``time_unit`` may also be a number of seconds.
TIME_UNITS = {"second": 1, "minute": 60, "hour": 3_600, "day": 86_400}
_TYPE_KEYS = {*_COUNTS, *_PRICES, "time_unit", "mode"}


@dataclass(frozen=True)
class TypeRules:
    """The rules of one instance type: its human ``name``, its on-chain id, and the validated :class:`Rules`."""

    name: str
    instance_type: int
    rules: Rules


@dataclass(frozen=True)
class RulesFile:
    """A validated rules file: the timeframe it targets, the currency its prices are in, and the rules of each
    instance type, in file order (prices already in micro-units)."""

    source: str
    timeframe: int
    currency: str
    types: tuple[TypeRules, ...]

    def by_name(self, name: str) -> TypeRules:
        for entry in self.types:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def check_currency(self, on_chain: str) -> None:
        """Refuse to apply prices written in another currency than the timeframe's on chain.

        :raises RulesFileError: the currencies differ.
        """
        if normalize_currency(on_chain) != self.currency:
            raise RulesFileError(
                f"{self.source}: currency: the file prices timeframe {self.timeframe} in {self.currency}, but the "
                f"timeframe is in {normalize_currency(on_chain)} on chain: fix the currency and the prices"
            )


def load_rules_file(path: Path) -> RulesFile:
    """Reads and validates the rules file at ``path``.

    :raises RulesFileError: unreadable, not YAML/JSON, or invalid; the message starts with the file name and names
        the field (``rules.yaml: types.db-server.price_per_time_unit: ...``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesFileError(f"{path}: no such rules file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesFileError(f"{path}: cannot read it ({exc})") from None
    return parse_rules(text, source=path.name, json_format=path.suffix.lower() == ".json")


def parse_rules(text: str, *, source: str = "<rules>", json_format: bool = False) -> RulesFile:
    """Validates rules given as YAML (or JSON) text; ``source`` names it in error messages.

    YAML needs PyYAML (``pip install "metering[cli]"``), else :class:`~metering.errors.MissingDependencyError`; JSON
    needs nothing beyond the library.
    """
    try:
        if json_format:
            data = json.loads(text, object_pairs_hook=_json_pairs, parse_float=_JsonFloat)
        else:
            data = load_strict_yaml(text)
    except RulesFileError as exc:
        raise RulesFileError(f"{source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RulesFileError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    return _validate(data, source)


class _JsonFloat(str):
    """A JSON number with a fraction, kept as its text so that it can be refused by name (never a float)."""


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RulesFileError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _fail(source: str, path: str, message: str) -> RulesFileError:
    return RulesFileError(f"{source}: {path}: {message}" if path else f"{source}: {message}")


def _integer(source: str, path: str, value: Any, bound: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        shown = float(value) if isinstance(value, _JsonFloat) else value
        raise _fail(source, path, f"must be a non-negative integer, got {shown!r}")
    if value < 0:
        raise _fail(source, path, f"must be a non-negative integer, got {value}")
    if value > bound:
        raise _fail(source, path, f"must be at most {bound}, got {value}")
    return value


def _price(source: str, path: str, value: Any, currency: str) -> int:
    if isinstance(value, _JsonFloat) or not isinstance(value, str):
        shown = str(value) if isinstance(value, _JsonFloat) else repr(value)
        raise _fail(
            source, path,
            f"must be a price in {currency} written as quoted text, e.g. \"0.12\", got {shown} "
            "(numbers are refused: a YAML decimal is a binary float, and integers meant minor units in older files)",
        )
    try:
        return parse_price(value, currency, what="the price")
    except ValueError as exc:
        raise _fail(source, path, str(exc)) from None


def _time_unit(source: str, path: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().lower() in TIME_UNITS:
        return TIME_UNITS[value.strip().lower()]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= UINT24_MAX:
        return value
    raise _fail(
        source, path, f"must be second, minute, hour, day or a number of seconds (1 to {UINT24_MAX}), got {value!r}"
    )


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
        raise _fail(source, "", "must be a mapping with the keys 'timeframe', 'currency' and 'types'")
    top = {"timeframe", "currency", "types"}
    _check_keys(source, "", data, top, top)
    timeframe = _integer(source, "timeframe", data["timeframe"], UINT16_MAX)
    if timeframe == 0:
        raise _fail(source, "timeframe", "must be the id of an existing timeframe (ids start at 1), got 0")
    try:
        currency = normalize_currency(data["currency"])
    except ValueError as exc:
        raise _fail(source, "currency", str(exc)) from None
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
        required = {k for k, (_, req) in _COUNTS.items() if req} | {k for k, req in _PRICES.items() if req}
        _check_keys(source, path, spec, _TYPE_KEYS, required | {"time_unit"})
        counts = {key: _integer(source, f"{path}.{key}", spec[key], bound) for key, (bound, _) in _COUNTS.items()
                  if key in spec}
        prices = {key: _price(source, f"{path}.{key}", spec[key], currency) for key in _PRICES if key in spec}
        unit = _time_unit(source, f"{path}.time_unit", spec["time_unit"])
        mode_text = spec.get("mode", "hard")
        if not isinstance(mode_text, str) or mode_text.lower() not in _MODES:
            raise _fail(source, f"{path}.mode", f"must be 'hard' or 'soft', got {mode_text!r}")
        instance_type = counts.pop("id")
        if instance_type in seen_ids:
            raise _fail(source, f"{path}.id", f"id {instance_type} is already used by type {seen_ids[instance_type]!r}")
        seen_ids[instance_type] = name
        try:
            rules = Rules(**counts, **prices, time_unit_seconds=unit, mode=_MODES[mode_text.lower()])
        except ValueError as exc:  # a price beyond the contract's uint48
            raise _fail(source, path, f"{exc} (micro-units of {currency})") from None
        entries.append(TypeRules(name=name, instance_type=instance_type, rules=rules))
    return RulesFile(source=source, timeframe=timeframe, currency=currency, types=tuple(entries))
