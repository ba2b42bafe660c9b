"""Where an event database is: a plain path or ``sqlite:///path`` for SQLite, ``postgresql://...`` for PostgreSQL.

Why one parser: ``--db``, ``METERING_DB``, ``metering db copy`` and the library's ``Store(...)`` all take the same
strings, and a URL's password must never reach a message or a log (:attr:`Location.shown`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from metering.errors import StoreError

__all__ = ["Location", "parse_location", "shown_location"]

_POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class Location:
    """A parsed database location: its backend, what opens it (a file path or a libpq URL), and how to show it."""

    backend: Literal["sqlite", "postgres"]
    target: str
    shown: str

    @property
    def path(self) -> Path:
        """The SQLite file (for a PostgreSQL location, a :class:`StoreError`)."""
        if self.backend != "sqlite":
            raise StoreError(f"{self.shown} is a PostgreSQL database, not a file")
        return Path(self.target)


def parse_location(location: str | os.PathLike[str]) -> Location:
    """Parse ``location``: ``postgresql://user:password@host:port/dbname`` (or ``postgres://``),
    ``sqlite:///absolute/path.sqlite`` / ``sqlite://relative.sqlite``, or a plain file path.

    :raises StoreError: another URL scheme (``mysql://``...), or a URL without a path.
    """
    if isinstance(location, os.PathLike):
        path = os.fspath(location)
        return Location("sqlite", path, path)
    text = str(location)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return Location("sqlite", text, text)
    scheme = scheme.lower()
    if scheme == "sqlite":
        if not rest:
            raise StoreError(f"{text!r} names no file: sqlite:///absolute/path.sqlite or sqlite://relative.sqlite")
        return Location("sqlite", rest, rest)
    if scheme in _POSTGRES_SCHEMES:
        return Location("postgres", text, _without_password(text))
    raise StoreError(
        f"{scheme}:// is not a database metering can use: give a file path, sqlite:///path or postgresql://..."
    )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def shown_location(location: str | os.PathLike[str]) -> str:
    """``location`` as messages show it: a URL without its password."""
    return parse_location(location).shown
