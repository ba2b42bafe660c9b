"""The indexed events of one Meter contract: the event database's public face, whichever backend holds it.

``Store(location, ...)`` opens a SQLite file (a path or ``sqlite:///path``: the default, embedded, the file is the
evidence) or a PostgreSQL database (``postgresql://...``: one history shared by several indexers, web views and
auditors). Both keep the same tables (:mod:`metering.audit.stores.migrations`) and give the same invoices byte for
byte. What each backend does and why is in :mod:`metering.audit.stores`; the row format is
:mod:`metering._utils.storerows`.

A row's id is its place in the chain (``block_number << 24 | log_index``), so re-ingesting a range is harmless and
chain order is the table's order. Block hashes are kept for every block that holds an event and for the end of every
indexed range, so the indexer can tell when the chain reorganised under it. One database holds one contract on one
chain; opening it for another raises :class:`StoreError` instead of mixing bills.

**Invoices read one index, in its order.** ``events_by_customer`` holds, for each event, every column an invoice
needs, ordered by timeframe, customer and chain position: all invoices of a timeframe are one forward scan of it
(one customer after the other, each in chain order, with nothing sorted and nothing held beyond the current
customer), and one customer's invoice is one range of it.
"""

from __future__ import annotations

from pathlib import Path

from eth_utils.address import to_checksum_address

from metering.audit.stores.base import BILLING_COLUMNS, Store, StoredBlock, StoredRange
from metering.audit.stores.migrations import SCHEMA_VERSION
from metering.errors import MissingDependencyError, StoreError

__all__ = [
    "BILLING_COLUMNS", "SCHEMA_VERSION", "Store", "StoreError", "StoredBlock", "StoredRange", "default_store_path",
]


def default_store_path(chain_id: int, contract: str) -> Path:
    """Where the events of ``contract`` on ``chain_id`` are kept unless told otherwise:
    ``<user data dir>/metering/<chain_id>-<checksummed address>.sqlite`` (the directory is not created here).

    The user data dir comes from platformdirs, part of the ``cli`` extra: library users name their database.
    """
    try:
        import platformdirs
    except ImportError as exc:
        raise MissingDependencyError(
            'the default event database location needs platformdirs: pip install "metering[cli]", or give a path'
        ) from exc
    return Path(platformdirs.user_data_dir("metering")) / f"{chain_id}-{to_checksum_address(contract)}.sqlite"
