"""The invoice document: RFC 8785 bytes, a hash that moves with every value, strict reading, CSV that follows it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from metering._utils.jcs import MAX_SAFE_INTEGER, CanonicalJsonError, canonical_json
from metering.audit.invoice import (
    Invoice,
    compute_invoice,
    from_json,
    invoice_hash,
    stated_hash,
    to_canonical_json,
    to_csv,
    to_dict,
    to_json,
)
from metering.errors import InvoiceError
from metering.types import Rules, Timeframe

from ._builders import CONTRACT, CUSTOMER, OTHER, History

GOLDEN = Path(__file__).with_name("golden") / "invoice-v2.json"
TF = Timeframe(id=2, start=1_000, end=2_000, currency="EUR")
RULES = {
    # 1.50 EUR per start beyond the first, 0.12 EUR per hour beyond 10 s, 0.25 EUR per continuation
    1: Rules(price_per_activation=150_000_000, price_per_time_unit=12_000_000, time_unit_seconds=3_600,
             included_activations=1, included_seconds=10, price_per_continuation=25_000_000),
    # 0.0004 EUR per start, the largest price per second the contract stores
    2: Rules(price_per_activation=40_000, price_per_time_unit=2**48 - 1),
}


def history() -> History:
    h = History(timeframe=TF.id)
    h.cont("carried", 1, 1_000, 1_050)
    h.grant("a", 1, 1_000, 1_100)
    h.renew("a", 1, 1_300)
    h.deactivate("a", 1, 1_250)
    h.grant("b", 1, 1_400, 1_500, overage=True)
    h.grant("c", 2, 1_500, 1_510)
    h.expire("c", 2, 1_510)
    return h


def compute(as_of: int | None = None) -> Invoice:
    return compute_invoice(
        CUSTOMER, TF, RULES, history().events, chain_id=31337, contract=CONTRACT, from_block=5, to_block=99,
        as_of=as_of,
    )


@pytest.fixture
def invoice() -> Invoice:
    return compute()


def paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every leaf of a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*path, index))
    else:
        yield path


def changed(value: Any) -> Any:
    """Another value of the same kind that the reader still accepts."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value.startswith("0x") and len(value) == 66:
        return value[:-1] + ("1" if value[-1] != "1" else "2")
    if value.startswith("0x"):  # an address: another checksummed one
        return OTHER if value != OTHER else CUSTOMER
    if value[0].isdigit():  # an amount or a price in major units
        return str(int(value.split(".")[0]) + 1) + value[len(value.split(".")[0]):]
    return value


def test_the_bytes_are_rfc_8785(invoice: Invoice) -> None:
    data = to_canonical_json(invoice)
    assert data == rfc8785.dumps(to_dict(invoice))
    assert data == rfc8785.dumps(json.loads(data))
    json.loads(data, parse_float=lambda s: pytest.fail(f"float {s}"))


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_our_canonical_json_equals_the_rfc_8785_reference(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except Exception:  # the reference refuses what it cannot encode (e.g. lone surrogates)
        return
    assert canonical_json(value) == expected


def test_values_without_an_exact_json_form_are_refused() -> None:
    for value in (0.5, 2**53, -(2**53), {1: "a"}, b"raw"):
        with pytest.raises(CanonicalJsonError):
            canonical_json(value)


def test_the_document_matches_the_golden_file(invoice: Invoice) -> None:
    """The bytes (and so the hash) of a known invoice never change by accident: a new format is a new version."""
    assert to_json(invoice) + b"\n" == GOLDEN.read_bytes()


def test_amounts_and_prices_are_exact_text_in_the_currencys_major_unit(invoice: Invoice) -> None:
    document = to_dict(invoice)
    lines = {(line["instance_type"], line["charge"]): line for line in document["lines"]}
    assert lines[(1, "seconds")]["unit_price"] == "0.12"
    assert lines[(1, "seconds")]["per"] == 3_600
    assert lines[(2, "activations")]["unit_price"] == "0.0004"
    assert lines[(2, "seconds")]["unit_price"] == "2814749.76710655"  # (2**48 - 1) micro-cents, to the last digit
    # 400 s of db-server, 10 included: 390 x 0.12 / 3600 = 0.013 EUR, rounded down once to 0.01
    assert (lines[(1, "seconds")]["quantity"], lines[(1, "seconds")]["amount"]) == (400, "0.01")
    assert (lines[(1, "activations")]["billable"], lines[(1, "activations")]["amount"]) == (1, "1.50")
    assert (lines[(1, "continuations")]["quantity"], lines[(1, "continuations")]["amount"]) == (1, "0.25")
    assert lines[(2, "activations")]["amount"] == "0.00"  # 0.0004 EUR
    assert lines[(2, "seconds")]["amount"] == "28147497.67"  # 10 s: 28147497.6710655 EUR
    assert document["total"] == "28147499.43"
    assert (document["currency"], document["decimals"]) == ("EUR", 2)
    assert "rounded down once" in document["rounding"]


def test_canonical_json_is_stable_and_round_trips(invoice: Invoice) -> None:
    assert to_canonical_json(invoice) == to_canonical_json(compute())
    again = from_json(to_json(invoice))
    assert again == invoice
    assert invoice_hash(invoice) == keccak(to_canonical_json(invoice))
    statement = compute(as_of=1_450)
    assert from_json(to_json(statement)) == statement


def test_the_hash_field_is_not_hashed(invoice: Invoice) -> None:
    document = json.loads(to_json(invoice))
    assert document.pop("hash") == "0x" + invoice_hash(invoice).hex()
    assert rfc8785.dumps(document) == to_canonical_json(invoice)
    assert stated_hash(to_json(invoice)) == invoice_hash(invoice)
    assert stated_hash(to_canonical_json(invoice)) is None


def test_the_hash_changes_when_any_value_is_tampered_with(invoice: Invoice) -> None:
    document = to_dict(invoice)
    original = invoice_hash(invoice)
    leaves = [p for p in paths(document) if p not in (("version",), ("currency",), ("decimals",), ("rounding",))]
    leaves = [p for p in leaves if p[-1] not in ("agent", "event", "charge")]  # checked by the reader instead
    assert len(leaves) > 60
    for path in leaves:
        tampered = json.loads(json.dumps(document))
        node = tampered
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = changed(node[path[-1]])
        assert invoice_hash(from_json(json.dumps(tampered))) != original, path


def test_reading_refuses_a_file_whose_hash_field_does_not_match(invoice: Invoice) -> None:
    document = json.loads(to_json(invoice))
    document["total"] = "9.99"
    with pytest.raises(InvoiceError, match="changed after it was issued"):
        from_json(json.dumps(document))
    assert from_json(json.dumps(document), check_hash=False).total == 999


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(total=1.0), "integers"),
        (lambda d: d["lines"][0].update(quantity=2.5), "integers"),
        (lambda d: d.pop("currency"), "missing currency"),
        (lambda d: d["lines"][0].pop("billable"), r"lines\[0\] is missing billable"),
        (lambda d: d.update(extra=1), "unknown fields extra"),
        (lambda d: d.update(as_of=-5), "non-negative integer"),
        (lambda d: d.update(total=176), "non-empty string"),
        (lambda d: d.update(total="1.7"), r"must be written '1.70'"),
        (lambda d: d.update(total="-1.76"), "non-negative"),
        (lambda d: d.update(total="1.765"), "finer than the currency's minor unit"),
        (lambda d: d["lines"][0].update(unit_price="1.500"), r"must be written '1.50'"),
        (lambda d: d["lines"][0].update(unit_price="0.0000000001"), "finer than"),
        (lambda d: d["lines"][0].update(charge="hours"), "charge must be one of"),
        (lambda d: d["lines"][0].update(per=0), "per must be at least 1"),
        (lambda d: d.update(final=1), "true or false"),
        (lambda d: d["lines"][0].update(quantity=True), "non-negative integer"),
        (lambda d: d.update(customer=CUSTOMER.lower()), "checksummed"),
        (lambda d: d["lines"][0].update(rules_hash=d["lines"][0]["rules_hash"].upper().replace("0X", "0x")),
         "lowercase hex"),
        (lambda d: d.update(version=1), "version 1"),
        (lambda d: d.update(lines={}), "JSON array"),
        (lambda d: d.update(currency="eur"), "upper-case"),
        (lambda d: d.update(currency="XYZ"), "unknown currency"),
        (lambda d: d.update(decimals=3), "decimals must be 2"),
        (lambda d: d.update(rounding="rounded up"), "rounding is not the rule"),
        (lambda d: d["evidence"]["events"][0].update(agent=CUSTOMER), "not the agent of its instance id"),
        (lambda d: d["evidence"]["events"][0].update(event="LeaseExpired"), "not an event that bills"),
        (lambda d: d["evidence"]["events"][0].update(instance_id="0x" + "ab" * 32), "not an instance id"),
    ],
)
def test_reading_a_malformed_invoice_says_what_is_wrong(invoice: Invoice, change: Any, message: str) -> None:
    document = to_dict(invoice)
    change(document)
    with pytest.raises(InvoiceError, match=message):
        from_json(json.dumps(document))


def test_reading_rejects_text_that_is_not_json_or_repeats_a_key() -> None:
    with pytest.raises(InvoiceError, match="not valid JSON"):
        from_json(b"{not json")
    with pytest.raises(InvoiceError, match="JSON object"):
        from_json(b"[1, 2]")
    with pytest.raises(InvoiceError, match="integers"):
        from_json(b'{"total": NaN}')
    with pytest.raises(InvoiceError, match="repeats the key 'total'"):
        from_json(b'{"total": "1.00", "total": "0.00"}')


def test_an_integer_past_2_53_cannot_be_written(invoice: Invoice) -> None:
    import dataclasses

    huge = dataclasses.replace(invoice, as_of=2**53)
    with pytest.raises(InvoiceError, match="decimal string"):
        to_canonical_json(huge)


def test_csv_follows_the_json_a_row_per_line_and_a_total_row(invoice: Invoice) -> None:
    document = to_dict(invoice)
    rows = list(csv.DictReader(io.StringIO(to_csv(invoice))))
    assert [(r["instance_type"], r["charge"]) for r in rows[:-1]] == [
        (str(line["instance_type"]), line["charge"]) for line in document["lines"]]
    for row, line in zip(rows, document["lines"], strict=False):
        for key, value in line.items():
            assert row[key] == str(value), key
        assert row["currency"] == "EUR"
    assert (rows[-1]["instance_type"], rows[-1]["amount"]) == ("total", document["total"])
    assert rows[-1]["committed_amount"] == document["committed_total"]
    assert rows[-1]["unit_price"] == ""
