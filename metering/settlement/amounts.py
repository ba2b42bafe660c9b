"""Token amounts as people read them: always with the currency they settle and the token they move."""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress

from metering.money import format_minor

__all__ = ["CurrencyToken", "TokenAmount", "format_units"]


def format_units(units: int, decimals: int) -> str:
    """``units`` of a token with ``decimals`` as a decimal string, exactly (no float): ``1_230_000, 6 -> "1.23"``."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    text = f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".") if decimals else str(whole)
    return sign + text


@dataclass(frozen=True)
class CurrencyToken:
    """The token the provider named for ``currency``: ``units_per_minor`` token units make one minor unit."""

    currency: str
    token: ChecksumAddress
    symbol: str
    decimals: int
    units_per_minor: int

    def amount(self, units: int) -> TokenAmount:
        return TokenAmount(units, self)

    def of_minor(self, minor: int) -> TokenAmount:
        return TokenAmount(minor * self.units_per_minor, self)


@dataclass(frozen=True)
class TokenAmount:
    """``units`` of ``token``. Shown as ``12.34 EUR (12.34 EURC)``: the currency, then the token moved."""

    units: int
    token: CurrencyToken

    @property
    def minor(self) -> int:
        """Whole minor units of the currency (rounded down: a remainder below one minor unit buys nothing)."""
        return self.units // self.token.units_per_minor

    def __str__(self) -> str:
        t = self.token
        tokens = format_units(self.units, t.decimals)
        return f"{format_minor(self.minor, t.currency)} {t.currency} ({tokens} {t.symbol})"

    def as_dict(self) -> dict[str, object]:
        t = self.token
        return {
            "currency": t.currency, "amount": format_minor(self.minor, t.currency), "minor": self.minor,
            "token": t.token, "symbol": t.symbol, "units": self.units,
            "token_amount": format_units(self.units, t.decimals),
        }
