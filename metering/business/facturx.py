"""Factur-X (EN 16931 profile): the commercial PDF as PDF/A-3 with its CII XML embedded, one file for people and
machines.

The ``factur-x`` library does the embedding (the XML as ``factur-x.xml`` with AFRelationship ``Data``, the XMP
metadata declaring PDF/A-3B and the Factur-X extension schema) and checks the XML against its EN 16931 XSD first.
What PDF/A-3 needs from the page itself (embedded fonts, an sRGB output intent) is done by
:mod:`metering.business.pdf`. The EN 16931 Schematron check needs a Saxon server, which is a network service, so it
is not run here; the XSD is.
"""

from __future__ import annotations

import logging

from metering.business.cii import to_cii_xml
from metering.business.commercial import CommercialInvoice
from metering.business.pdf import commercial_pdf
from metering.errors import InvoiceError, MissingDependencyError

__all__ = ["embedded_xml", "facturx_pdf"]


def facturx_pdf(doc: CommercialInvoice) -> bytes:
    """The Factur-X PDF/A-3 bytes of ``doc``.

    :raises InvoiceError: the XML does not validate (never written half-done).
    """
    try:
        import facturx
    except ImportError as exc:
        raise MissingDependencyError('Factur-X needs factur-x: pip install "metering[business]"') from exc
    logging.getLogger("factur-x").setLevel(logging.WARNING)
    xml = to_cii_xml(doc)  # validated against the XSD here
    metadata = {
        "author": doc.seller.name,
        "keywords": "Factur-X, EN 16931, invoice",
        "title": f"{doc.seller.name}: {doc.kind.heading} {doc.number}",
        "subject": f"Factur-X {doc.kind.heading.lower()} {doc.number} dated {doc.issue_date.isoformat()} "
                   f"issued by {doc.seller.name}",
    }
    try:
        result: bytes = facturx.generate_from_binary(
            commercial_pdf(doc), xml, flavor="factur-x", level="en16931", check_xsd=False, pdf_metadata=metadata,
            lang="en",
        )
    except Exception as exc:  # the library raises bare exceptions
        raise InvoiceError(f"the Factur-X PDF could not be made: {exc}") from exc
    return result


def embedded_xml(pdf: bytes) -> bytes:
    """The Factur-X XML inside ``pdf`` (for tests and for a reader that wants to check a file it received).

    :raises InvoiceError: the PDF carries no Factur-X XML.
    """
    import facturx

    _name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    if not xml:
        raise InvoiceError("the PDF carries no Factur-X XML")
    return bytes(xml)
