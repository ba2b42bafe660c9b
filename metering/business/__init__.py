"""Commercial invoices: what a business needs to book the canonical invoice (names, numbers, dates, tax) and the
documents it books from (PDF, Factur-X EN 16931, CII XML, CSV). Built on the canonical invoice, never instead of
it; needs ``pip install "metering[business]"``."""
