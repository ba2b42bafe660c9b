"""Fixtures of the watch tests: the same synthetic history on each backend, SQLite and PostgreSQL.

Why both: the outbox lives in the event database and the watch reads the events through its indexes, with SQL that
differs between the engines (:meth:`~metering.audit.stores.base.Store.scan`, ``json_text``); each test that reads or
writes a store runs on each. The PostgreSQL copy is made by ``metering db copy``'s own code, so it holds exactly the
SQLite history; without PostgreSQL installed that half is skipped, saying how to install it.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from pathlib import Path

import pytest
from _postgres import PostgresServer

from metering.audit.store import Store
from metering.audit.stores.copy import copy_history

_copies = count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def copy_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Path], str]:
    """``copy_store(path)``: a new database holding the SQLite history at ``path`` (a file copy, or a new
    PostgreSQL schema), for a test to write into; returns what opens it."""

    def make(source: Path) -> str:
        if request.param == "sqlite":
            target = tmp_path / f"copy-{next(_copies)}.sqlite"
            with Store(source) as store:
                store.query("PRAGMA wal_checkpoint(TRUNCATE)")  # the whole history in the file before it is copied
            target.write_bytes(source.read_bytes())
            return str(target)
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.new_url()
        origin, copied, _ = copy_history(source, url)
        origin.close()
        copied.close()
        return url

    return make
