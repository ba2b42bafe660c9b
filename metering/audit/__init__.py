"""The customers' and auditors' side: events decoded from the chain, the SQLite event store and its indexer,
canonical invoices and running statements, their verification, and the PDF a customer files.

Everything here reads the chain; nothing signs (anchoring an invoice is the provider's act:
:mod:`metering.provider.anchoring`).
"""
