"""Times as people write them: durations like ``90s``, ``2m``, ``1h30m``, ``30d`` and ISO 8601 instants like
``2026-12-01T00:00Z``, turned into the integer seconds the contract counts in, and unix seconds shown back as ISO.

The chain keeps block timestamps in unix seconds, and a timeframe or a lease is easy to get wrong by a factor of 60
when typed as ``2592000``. These helpers are the one place the command line converts, with errors that say what
was expected. Plain integers are still accepted (seconds, or unix seconds for instants), so older scripts keep
working. An instant must carry its timezone (``Z`` or ``+01:00``): a bare local time would mean something different
on the provider's laptop and on a server.

>>> parse_duration("1h30m")
5400
>>> parse_instant("2026-12-01T00:00Z")
1796083200
>>> format_instant(1796083200)
'2026-12-01T00:00:00Z'
>>> format_duration(5400)
'1h30m'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from metering.errors import ConfigError

__all__ = ["UNITS", "format_duration", "format_instant", "parse_duration", "parse_instant", "with_iso"]

#: Seconds per unit, largest first (the order they must be written in: ``1d12h``, not ``12h1d``).
UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}

_DURATION = re.compile(r"(\d+)([wdhms])")
_EXAMPLES_DURATION = "e.g. 90s, 2m, 1h30m, 30d (or plain seconds)"
_EXAMPLES_INSTANT = "e.g. 2026-12-01T00:00Z or 2026-12-01T01:00+01:00 (or unix seconds)"


def parse_duration(text: str, *, what: str = "duration") -> int:
    """Seconds in ``text``: a plain integer (seconds) or number-unit pairs, units ``w d h m s`` each at most once,
    largest first. Negative and empty durations are refused.

    :raises ConfigError: ``text`` is not such a duration (the message names ``what`` and gives examples).
    """
    raw = "".join(text.split()).lower()  # "1h 30m" reads as "1h30m"
    if raw.isdigit():
        return int(raw)
    position, total, used = 0, 0, ""
    for match in _DURATION.finditer(raw):
        unit = match.group(2)
        if match.start() != position or unit in used or (used and UNITS[unit] > UNITS[used[-1]]):
            break
        total += int(match.group(1)) * UNITS[unit]
        used += unit
        position = match.end()
    else:
        if used and position == len(raw):
            return total
    raise ConfigError(f"{what} {text!r} is not a duration: {_EXAMPLES_DURATION}")


def parse_instant(text: str, *, what: str = "time") -> int:
    """Unix seconds of ``text``: an ISO 8601 date-time with a timezone (``Z`` or an offset), or plain unix seconds.
    Fractions of a second are refused rather than rounded (the chain counts whole seconds).

    :raises ConfigError: ``text`` is not such an instant (the message names ``what`` and gives examples).
    """
    raw = text.strip()
    if raw.isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not an ISO 8601 time: {_EXAMPLES_INSTANT}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigError(f"{what} {text!r} has no timezone: add Z for UTC or an offset like +01:00")
    if moment.microsecond:
        raise ConfigError(f"{what} {text!r} has a fraction of a second: the chain counts whole seconds")
    return int(moment.timestamp())


def format_instant(timestamp: int) -> str:
    """Unix seconds as ISO 8601 in UTC, to the second: ``2026-12-01T00:00:00Z`` (beyond year 9999, which ISO cannot
    write in four digits, a plain ``after 9999-12-31T23:59:59Z``)."""
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return "after 9999-12-31T23:59:59Z" if timestamp > 0 else "before 1970-01-01T00:00:00Z"


def with_iso(timestamp: int) -> str:
    """A block time as the chain has it, with the ISO time beside it: ``1796083200 (2026-12-01T00:00:00Z)``."""
    return f"{int(timestamp)} ({format_instant(timestamp)})"


def format_duration(seconds: int) -> str:
    """``seconds`` in the units :func:`parse_duration` reads (``5400`` -> ``1h30m``; ``0`` -> ``0s``)."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    parts: list[str] = []
    rest = int(seconds)
    for unit, size in UNITS.items():
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
