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

from decimal import Decimal, InvalidOperation

__all__ = [
    "PRICE_SCALE",
    "currency_decimals",
    "format_micro",
    "format_minor",
    "normalize_currency",
    "parse_amount",
    "parse_price",
]

#: Micro-units per minor unit: the contract's ``PRICE_SCALE``.
PRICE_SCALE = 1_000_000



def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ZERO = _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF")
_THREE = _codes("BHD IQD JOD KWD LYD OMR TND")
_FOUR = _codes("CLF UYW")
_TWO = _codes(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE
    CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL
    HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP
    SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER
    ZAR ZMW ZWG ZWL"""
)
#: ISO 4217 active currency codes and their number of decimals (the minor unit's exponent).
DECIMALS: dict[str, int] = {
    **dict.fromkeys(_ZERO, 0),
    **dict.fromkeys(_TWO, 2),
    **dict.fromkeys(_THREE, 3),
    **dict.fromkeys(_FOUR, 4),
}


def normalize_currency(code: str) -> str:
    """The upper-case ISO 4217 code for ``code`` (``eur`` and ``EUR`` are one currency).

    :raises ValueError: not a known ISO 4217 currency code.
    """
    if not isinstance(code, str):
        raise ValueError(f"a currency code must be text like 'EUR', got {code!r}")
    normalized = code.strip().upper()
    if normalized not in DECIMALS:
        raise ValueError(f"unknown currency code {code!r}: use an ISO 4217 code such as EUR, USD, JPY or BHD")
    return normalized


def currency_decimals(code: str) -> int:
    """How many decimals the currency's minor unit has (EUR 2, JPY 0, BHD 3)."""
    return DECIMALS[normalize_currency(code)]


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
