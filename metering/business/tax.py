"""Tax on a commercial invoice: integers in the currency's minor unit, rounded half up exactly once where the
directory says (on the total, or on each line).

The minor unit is the currency's (ISO 4217 decimals, :mod:`metering.money`), so JPY tax is whole yen and EUR tax
whole cents without a special case: amounts are already integers in that unit. Rounding half up is what tax
administrations use ("commercial rounding"); per-total rounding is the EN 16931 rule (BR-CO-17: a category's tax
is its basis times its rate, rounded); per-line rounding is what some accounting systems do and may differ from it
by a few minor units, which is why the choice is the provider's and stated in the directory.

>>> tax_amount(1999, 200_000)   # 20 % of 19.99 EUR = 3.998 -> 4.00 EUR
400
>>> tax_amount(1550, 100_000)   # 10 % of 1550 JPY = 155 JPY
155
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from metering.business.directory import RATE_SCALE, TaxRounding, TaxRule, Treatment

__all__ = ["CATEGORY", "TaxSubtotal", "line_taxes", "tax_amount", "tax_subtotal"]

#: EN 16931 VAT category codes (UNTDID 5305): standard rate, reverse charge, exempt.
CATEGORY = {Treatment.STANDARD: "S", Treatment.REVERSE_CHARGE: "AE", Treatment.EXEMPT: "E"}


def tax_amount(net: int, rate: int) -> int:
    """``net`` minor units times ``rate`` (parts per million), rounded half up to a whole minor unit."""
    if net < 0 or rate < 0:
        raise ValueError(f"tax is computed on non-negative amounts and rates, got {net} at {rate} ppm")
    return (net * rate + RATE_SCALE // 2) // RATE_SCALE


@dataclass(frozen=True)
class TaxSubtotal:
    """The tax of one category: its basis (the net it applies to), the rate, the amount, and the wording a
    reverse-charge or exempt invoice must carry."""

    category: str
    rule: TaxRule
    basis: int
    tax: int

    @property
    def reason(self) -> str | None:
        return None if self.rule.treatment is Treatment.STANDARD else self.rule.reason


def line_taxes(nets: Sequence[int], rule: TaxRule, rounding: TaxRounding) -> tuple[int | None, ...]:
    """Each line's tax when it is rounded per line; ``None`` per line when it is rounded on the total."""
    if rounding is TaxRounding.PER_LINE:
        return tuple(tax_amount(net, rule.rate) for net in nets)
    return tuple(None for _ in nets)


def tax_subtotal(nets: Sequence[int], rule: TaxRule, rounding: TaxRounding) -> TaxSubtotal:
    """The category's subtotal: the sum of the lines' taxes (per line), or the total's tax (per total)."""
    basis = sum(nets)
    if rounding is TaxRounding.PER_LINE:
        tax = sum(tax_amount(net, rule.rate) for net in nets)
    else:
        tax = tax_amount(basis, rule.rate)
    return TaxSubtotal(CATEGORY[rule.treatment], rule, basis, tax)
