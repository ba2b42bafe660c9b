"""Invoice anchors: once per (customer, timeframe) after the timeframe ended; corrections keep the old hash visible."""

from __future__ import annotations

from typing import Any

from .conftest import SetupTimeframe
from .helpers import Harness

FIRST = b"\x01" * 32
SECOND = b"\x02" * 32
THIRD = b"\x03" * 32


def test_anchor_reverts_before_the_timeframe_ends_and_works_from_its_end(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0].address
    fn = h.fn.anchorInvoice(c, tf.id, FIRST, 1234)
    h.assert_reverts(fn, h.admin, "MeteringTimeframeNotEnded", tf.id, tf.end, at=tf.end - 1)
    receipt = h.send(fn, h.admin, at=tf.end)
    assert h.only_event(receipt, "InvoiceAnchored") == {
        "customer": c, "timeframe": tf.id, "invoiceHash": FIRST, "total": 1234,
    }
    assert tuple(h.fn.invoiceAnchor(c, tf.id).call()) == (FIRST, 1234, 0)


def test_an_invoice_is_anchored_once_per_customer_and_timeframe(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    a, b = customers[0].address, customers[1].address
    h.send(h.fn.anchorInvoice(a, tf.id, FIRST, 10), h.admin, at=tf.end)
    h.assert_reverts(
        h.fn.anchorInvoice(a, tf.id, SECOND, 20), h.admin, "MeteringInvoiceAlreadyAnchored", a, tf.id, FIRST
    )
    assert tuple(h.fn.invoiceAnchor(a, tf.id).call()) == (FIRST, 10, 0)
    # Another customer's invoice for the same timeframe is independent.
    h.send(h.fn.anchorInvoice(b, tf.id, SECOND, 20), h.admin)
    assert tuple(h.fn.invoiceAnchor(b, tf.id).call()) == (SECOND, 20, 0)


def test_correct_invoice_keeps_the_previous_hash_in_the_event_and_bumps_the_revision(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0].address
    h.send(h.fn.anchorInvoice(c, tf.id, FIRST, 10), h.admin, at=tf.end)
    receipt = h.send(h.fn.correctInvoice(c, tf.id, SECOND, 12), h.admin)
    assert h.only_event(receipt, "InvoiceCorrected") == {
        "customer": c, "timeframe": tf.id, "invoiceHash": SECOND, "previousHash": FIRST, "total": 12, "revision": 1,
    }
    receipt = h.send(h.fn.correctInvoice(c, tf.id, THIRD, 11), h.admin)
    assert h.only_event(receipt, "InvoiceCorrected") == {
        "customer": c, "timeframe": tf.id, "invoiceHash": THIRD, "previousHash": SECOND, "total": 11, "revision": 2,
    }
    assert tuple(h.fn.invoiceAnchor(c, tf.id).call()) == (THIRD, 11, 2)
    # A correction does not reopen anchoring.
    h.assert_reverts(
        h.fn.anchorInvoice(c, tf.id, FIRST, 10), h.admin, "MeteringInvoiceAlreadyAnchored", c, tf.id, THIRD
    )


def test_correct_invoice_reverts_when_nothing_is_anchored(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0].address
    h.assert_reverts(
        h.fn.correctInvoice(c, tf.id, SECOND, 1), h.admin, "MeteringInvoiceNotAnchored", c, tf.id, at=tf.end + 1
    )
    assert tuple(h.fn.invoiceAnchor(c, tf.id).call()) == (b"\x00" * 32, 0, 0)


def test_a_zero_invoice_hash_can_be_neither_anchored_nor_used_as_a_correction(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe()
    c = customers[0].address
    zero = b"\x00" * 32
    h.assert_reverts(h.fn.anchorInvoice(c, tf.id, zero, 1), h.admin, "MeteringZeroInvoiceHash", at=tf.end + 1)
    h.send(h.fn.anchorInvoice(c, tf.id, FIRST, 10), h.admin)
    h.assert_reverts(h.fn.correctInvoice(c, tf.id, zero, 1), h.admin, "MeteringZeroInvoiceHash")
    assert tuple(h.fn.invoiceAnchor(c, tf.id).call()) == (FIRST, 10, 0)


def test_anchor_reverts_invalid_customer_for_an_address_that_never_enrolled_but_accepts_a_suspended_one(
    h: Harness, setup_timeframe: SetupTimeframe, customers: Any
) -> None:
    tf = setup_timeframe(enroll=1)
    stranger = customers[3].address
    h.assert_reverts(
        h.fn.anchorInvoice(stranger, tf.id, FIRST, 1), h.admin, "MeteringInvalidCustomer", stranger, at=tf.end
    )
    assert tuple(h.fn.invoiceAnchor(stranger, tf.id).call()) == (b"\x00" * 32, 0, 0)
    # A suspended customer still owes its invoice.
    h.suspend(customers[0])
    h.send(h.fn.anchorInvoice(customers[0].address, tf.id, FIRST, 1), h.admin)
    assert tuple(h.fn.invoiceAnchor(customers[0].address, tf.id).call()) == (FIRST, 1, 0)
