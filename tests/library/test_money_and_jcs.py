"""ISO 4217 minor units from the ``iso4217`` package and canonical JSON from ``rfc8785``: the libraries that replaced
our hand-written table and encoder, checked against what the hand code gave (the invoice bytes must not move)."""

from __future__ import annotations

import pytest
import rfc8785

from metering._utils.jcs import MAX_SAFE_INTEGER, CanonicalJsonError, canonical_json
from metering.money import WITHDRAWN_DECIMALS, currency_decimals, format_minor, normalize_currency

#: The currencies whose ISO 4217 minor unit Babel's CLDR data contradicts (cash practice: 0 decimals): the reason
#: Babel was not used. ISO's value is what invoices have always used.
CLDR_DIFFERS = {"AFN": 2, "ALL": 2, "IQD": 3, "IRR": 2, "KPW": 2, "LAK": 2, "LBP": 2, "MGA": 2, "MMK": 2, "RSD": 2,
                "SOS": 2, "SYP": 2, "YER": 2}


@pytest.mark.parametrize(
    ("code", "decimals"),
    [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3), ("TND", 3), ("CLF", 4), ("UYW", 4),
     ("XOF", 0), ("XCG", 2), ("SLE", 2), ("ZWG", 2), *CLDR_DIFFERS.items()],
)
def test_iso_4217_minor_units_are_the_ones_invoices_always_used(code: str, decimals: int) -> None:
    assert currency_decimals(code) == decimals
    assert currency_decimals(code.lower()) == decimals


def test_withdrawn_codes_stay_readable_for_old_timeframes() -> None:
    assert set(WITHDRAWN_DECIMALS) == {"ANG", "BGN", "CUC", "SLL", "ZWL"}
    assert format_minor(1550, "BGN") == "15.50"


@pytest.mark.parametrize("code", ["XAU", "XDR", "XTS", "XXX", "EURO", "", "E U"])
def test_codes_without_a_minor_unit_or_unknown_are_refused(code: str) -> None:
    """Gold, SDRs, the test and "no currency" codes have no minor unit ("N.A."): nothing can be priced in them."""
    with pytest.raises(ValueError, match="unknown currency code"):
        normalize_currency(code)


def test_the_table_is_loaded_on_first_use_not_on_import() -> None:
    """``metering --help`` must not pay for parsing ISO's table (~60 ms)."""
    import subprocess
    import sys

    probe = "import sys, metering.money; print('iso4217' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": [1, 0.5]}, "a[1]: 0.5 is a float"),
        ({"lines": [{"qty": 2**53}]}, "lines[0].qty: 9007199254740992 is beyond 2**53 - 1"),
        ({"x": {1: "a"}}, "x: object keys must be strings"),
        ({"blob": b"raw"}, "blob: bytes has no canonical JSON form"),
        ({"set": {1, 2}}, "set: set has no canonical JSON form"),
    ],
)
def test_a_refusal_names_where_the_value_is(value: object, where: str) -> None:
    with pytest.raises(CanonicalJsonError) as refused:
        canonical_json(value)
    assert str(refused.value).startswith(where)


def test_a_lone_surrogate_is_refused_as_ours_not_the_packages_error() -> None:
    with pytest.raises(CanonicalJsonError, match="UTF-8"):
        canonical_json({"name": "\ud800"})


def test_the_bounds_themselves_are_written() -> None:
    edge = {"max": MAX_SAFE_INTEGER, "min": -MAX_SAFE_INTEGER, "t": (True, None)}
    expected = b'{"max":9007199254740991,"min":-9007199254740991,"t":[true,null]}'
    assert canonical_json(edge) == rfc8785.dumps(edge) == expected
