"""The invoice document: canonical bytes, a hash that moves with every number, strict reading, CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils.crypto import keccak

from metering.errors import InvoiceError
from metering.invoice import (
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
from metering.types import Rules, Timeframe

from ._builders import CONTRACT, CUSTOMER, History

TF = Timeframe(id=2, start=1_000, end=2_000, currency="EUR")
RULES = {
    1: Rules(price_per_activation=150, price_per_second=3, included_activations=1, included_seconds=10),
    2: Rules(price_per_activation=2**127, price_per_second=1),
}


@pytest.fixture
def invoice() -> Invoice:
    h = History(timeframe=TF.id)
    h.grant("a", 1, 1_000, 1_100)
    h.renew("a", 1, 1_300)
    h.deactivate("a", 1, 1_250)
    h.grant("b", 1, 1_400, 1_500, overage=True)
    h.grant("c", 2, 1_500, 1_510)
    return compute_invoice(
        CUSTOMER, TF, RULES, h.events, chain_id=31337, contract=CONTRACT, from_block=5, to_block=99, as_of=2_000
    )


def integer_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, bool):
        return
    if isinstance(node, int):
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from integer_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from integer_paths(value, (*path, index))


def test_canonical_json_is_sorted_compact_and_integer_only(invoice: Invoice) -> None:
    data = to_canonical_json(invoice)
    document = json.loads(data)
    assert data == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert b" " not in data and b"\n" not in data
    json.loads(data, parse_float=lambda s: pytest.fail(f"float {s}"))
    assert document["customer"] == CUSTOMER
    assert document["evidence"]["contract"] == CONTRACT
    assert document["lines"][1]["price_per_activation"] == 2**127
    assert all(
        e["tx_hash"] == e["tx_hash"].lower() and e["tx_hash"].startswith("0x")
        for e in document["evidence"]["events"]
    )


def test_canonical_json_is_stable_and_round_trips(invoice: Invoice) -> None:
    assert to_canonical_json(invoice) == to_canonical_json(invoice)
    again = from_json(to_json(invoice))
    assert again == invoice
    assert to_canonical_json(again) == to_canonical_json(invoice)
    assert invoice_hash(invoice) == keccak(to_canonical_json(invoice))


def test_the_hash_field_is_not_hashed(invoice: Invoice) -> None:
    document = json.loads(to_json(invoice))
    assert document.pop("hash") == "0x" + invoice_hash(invoice).hex()
    assert json.dumps(document, sort_keys=True, separators=(",", ":")).encode() == to_canonical_json(invoice)
    assert stated_hash(to_json(invoice)) == invoice_hash(invoice)
    assert stated_hash(to_canonical_json(invoice)) is None


def test_the_hash_changes_when_any_number_is_tampered_with(invoice: Invoice) -> None:
    document = to_dict(invoice)
    original = invoice_hash(invoice)
    paths = list(integer_paths(document))
    assert len(paths) > 40
    for path in paths:
        tampered = json.loads(json.dumps(document))
        node = tampered
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] += 1
        if path == ("version",):
            continue  # another version is refused outright
        changed = from_json(json.dumps(tampered))
        assert invoice_hash(changed) != original, path


def test_reading_refuses_a_file_whose_hash_field_does_not_match(invoice: Invoice) -> None:
    document = json.loads(to_json(invoice))
    document["total"] += 1
    with pytest.raises(InvoiceError, match="changed after it was issued"):
        from_json(json.dumps(document))
    assert from_json(json.dumps(document), check_hash=False).total == invoice.total + 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(total=1.0), "integers"),
        (lambda d: d["lines"][0].update(seconds=2.5), "integers"),
        (lambda d: d.pop("currency"), "missing currency"),
        (lambda d: d["lines"][0].pop("billable_seconds"), r"lines\[0\] is missing billable_seconds"),
        (lambda d: d.update(extra=1), "unknown fields extra"),
        (lambda d: d.update(total=-5), "non-negative integer"),
        (lambda d: d.update(total="5"), "non-negative integer"),
        (lambda d: d.update(final=1), "true or false"),
        (lambda d: d["lines"][0].update(activations=True), "non-negative integer"),
        (lambda d: d.update(customer=CUSTOMER.lower()), "checksummed"),
        (lambda d: d["lines"][0].update(rules_hash=d["lines"][0]["rules_hash"].upper().replace("0X", "0x")),
         "lowercase hex"),
        (lambda d: d.update(version=2), "version 2"),
        (lambda d: d.update(lines={}), "JSON array"),
    ],
)
def test_reading_a_malformed_invoice_says_what_is_wrong(invoice: Invoice, change: Any, message: str) -> None:
    document = to_dict(invoice)
    change(document)
    with pytest.raises(InvoiceError, match=message):
        from_json(json.dumps(document))


def test_reading_rejects_text_that_is_not_json() -> None:
    with pytest.raises(InvoiceError, match="not valid JSON"):
        from_json(b"{not json")
    with pytest.raises(InvoiceError, match="JSON object"):
        from_json(b"[1, 2]")
    with pytest.raises(InvoiceError, match="integers"):
        from_json(b'{"total": NaN}')


def test_csv_has_a_row_per_line_and_a_total_row(invoice: Invoice) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(invoice))))
    assert [r["instance_type"] for r in rows] == ["1", "2", "total"]
    first = invoice.line(1)
    assert rows[0]["seconds"] == str(first.seconds)
    assert rows[0]["rules_hash"] == "0x" + first.rules_hash.hex()
    assert rows[1]["price_per_activation"] == str(2**127)
    assert rows[2]["total"] == str(invoice.total)
    assert rows[2]["activations"] == str(sum(line.activations for line in invoice.lines))
    assert rows[2]["price_per_second"] == ""
    assert {r["currency"] for r in rows} == {"EUR"}
