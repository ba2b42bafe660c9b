"""Currencies and prices as people write them, and as the contract stores them.

Money on chain is an integer. Amounts on an invoice are in the currency's *minor unit* (cents for EUR, yen for JPY,
fils for BHD: ISO 4217 gives each currency its number of decimals). Prices in rules are finer: *micro-units*, a
millionth of the minor unit (``PRICE_SCALE``), so that ``0.0004 USD`` per activation (40,000 micro-units) and
``0.12 EUR`` per hour (12,000,000 micro-units per 3,600 seconds) are exact. Nothing here uses floats: text goes
through :class:`decimal.Decimal` and must convert exactly, or it is refused.

>>> normalize_currency(" eur ")
'EUR'
>>> parse_price("0.12", "EUR")
12000000
>>> format_micro(12_000_000, "EUR")
'0.12'
>>> format_minor(1550, "EUR")
'15.50'
>>> format_minor(1550, "JPY")
'1550'
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from types import MappingProxyType

from metering.errors import MissingDependencyError

__all__ = [
    "PRICE_SCALE",
    "WITHDRAWN_DECIMALS",
    "currency_decimals",
    "format_micro",
    "format_minor",
    "normalize_currency",
    "parse_amount",
    "parse_price",
]

#: Micro-units per minor unit: the contract's ``PRICE_SCALE``.
PRICE_SCALE = 1_000_000

#: Codes ISO 4217 withdrew lately, still accepted (with the minor unit they had, 2 each) so that a timeframe created
#: in one keeps its prices and invoices readable: ANG (replaced by XCG, 2025), BGN (Bulgaria joined the euro, 2026),
#: CUC (withdrawn 2021), SLL (replaced by SLE, 2024), ZWL (replaced by ZWG, 2024).
WITHDRAWN_DECIMALS: Mapping[str, int] = MappingProxyType(dict.fromkeys(("ANG", "BGN", "CUC", "SLL", "ZWL"), 2))


@cache
def _decimals() -> Mapping[str, int]:
    """ISO 4217's active codes with their minor unit (``iso4217``: ISO's own table), and :data:`WITHDRAWN_DECIMALS`.

    Why ``iso4217`` rather than Babel or pycountry: Babel's digits are CLDR's cash practice, which differ from ISO
    4217's minor unit for 14 currencies (IQD has 3 decimals in ISO 4217 and 0 in CLDR: an invoice would be off by a
    factor of 1000), and pycountry carries no minor units at all. Codes without a minor unit (gold, SDR, test and
    fund codes: "N.A.") cannot price anything and are left out. Loaded on first use: parsing the table costs ~60 ms,
    which ``metering --help`` should not pay.
    """
    try:
        from iso4217 import Currency
    except ImportError:
        raise MissingDependencyError(
            'currencies need ISO 4217\'s table (the iso4217 package): pip install "metering[audit]" '
            '(the cli extra includes it)') from None

    active = {c.code: c.exponent for c in Currency if c.exponent is not None}
    return MappingProxyType({**WITHDRAWN_DECIMALS, **active})


def normalize_currency(code: str) -> str:
    """The upper-case ISO 4217 code for ``code`` (``eur`` and ``EUR`` are one currency).

    :raises ValueError: not a known ISO 4217 currency code.
    """
    if not isinstance(code, str):
        raise ValueError(f"a currency code must be text like 'EUR', got {code!r}")
    normalized = code.strip().upper()
    if normalized not in _decimals():
        raise ValueError(f"unknown currency code {code!r}: use an ISO 4217 code such as EUR, USD, JPY or BHD")
    return normalized


def currency_decimals(code: str) -> int:
    """How many decimals the currency's minor unit has (EUR 2, JPY 0, BHD 3)."""
    return _decimals()[normalize_currency(code)]


def _decimal(text: str | int | Decimal, what: str) -> Decimal:
    if isinstance(text, bool | float):
        raise ValueError(f"{what} must be written as text or an integer, not {text!r} (floats are not exact)")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a non-negative number, got {text!r}")
    return value


def parse_price(text: str | int | Decimal, currency: str, *, what: str = "price") -> int:
    """A price in major units of ``currency`` (``"0.12"`` EUR) as exact micro-units of its minor unit.

    :raises ValueError: negative, not a number, or finer than a micro-unit.
    """
    value = _decimal(text, what) * (10 ** currency_decimals(currency)) * PRICE_SCALE
    if value != value.to_integral_value():
        raise ValueError(f"{what} {text} {currency} is finer than a millionth of the minor unit")
    return int(value)


def parse_amount(text: str | int | Decimal, currency: str, *, what: str = "amount") -> int:
    """An amount in major units (``"15.50"`` EUR) as exact minor units (1550).

    :raises ValueError: negative, not a number, or finer than the minor unit.
    """
    value = _decimal(text, what) * (10 ** currency_decimals(currency))
    if value != value.to_integral_value():
        raise ValueError(f"{what} {text} {currency} is finer than the currency's minor unit")
    return int(value)


def _format(value: int, exponent: int) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    if exponent == 0:
        return f"{sign}{value}"
    whole, fraction = divmod(value, 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def format_minor(amount: int, currency: str) -> str:
    """Minor units as major-unit text with the currency's decimals: 1550 EUR -> ``"15.50"``."""
    return _format(amount, currency_decimals(currency))


def format_micro(price: int, currency: str) -> str:
    """Micro-units as major-unit text at full precision, trailing zeros beyond the minor unit dropped.

    12,000,000 EUR -> ``"0.12"``; 40,000 USD -> ``"0.0004"``.
    """
    decimals = currency_decimals(currency)
    text = _format(price, decimals + 6)
    if "." in text:
        whole, fraction = text.split(".")
        fraction = fraction.rstrip("0")
        fraction = fraction.ljust(decimals, "0")
        text = f"{whole}.{fraction}" if fraction else whole
    return text
