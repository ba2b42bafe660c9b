"""RFC 8785 (JSON Canonicalization Scheme) bytes of our documents, by the ``rfc8785`` package (Trail of Bits).

Why canonical JSON: the invoice hash must not depend on which JSON library a reader has. Why the package: it is the
reference the tests always compared our bytes against; a pure-Python module without dependencies, it replaced our
own encoder byte for byte.

What this wrapper adds is our narrower domain: our documents hold no floats (money is integers, and a float would
mean a bug upstream), so a float is refused here although RFC 8785 could print one; integers must be ones every JSON
reader keeps exactly (magnitude up to 2**53 - 1), as RFC 8785 requires, and larger values must be written as decimal
strings by the caller (as amounts are). Every refusal is a :class:`CanonicalJsonError` naming where the value is.

>>> canonical_json({"b": [1, True, None], "a": "é"})
b'{"a":"\\xc3\\xa9","b":[1,true,null]}'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metering.errors import MissingDependencyError

__all__ = ["MAX_SAFE_INTEGER", "CanonicalJsonError", "canonical_json"]

#: The largest integer every JSON reader keeps exactly (``Number.MAX_SAFE_INTEGER``).
MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalJsonError(ValueError):
    """A value has no canonical form here (a float, an unsafe integer, a non-string key, another type)."""


def _find_refused(value: Any, path: str) -> str | None:
    """Where (and why) ``value`` holds something without a canonical form here, or None: the package says *what*
    it refused, this says *where*, which is what someone fixing the document needs."""
    where = path or "value"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        return f"{where}: {value} is beyond 2**53 - 1; write it as a decimal string" if (
            abs(value) > MAX_SAFE_INTEGER) else None
    if isinstance(value, float):
        return f"{where}: {value!r} is a float; our documents hold integers and decimal strings only"
    if isinstance(value, Mapping):
        for name, item in value.items():
            if not isinstance(name, str):
                return f"{where}: object keys must be strings, found {name!r}"
            found = _find_refused(item, f"{path}.{name}" if path else name)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _find_refused(item, f"{path}[{index}]")
            if found:
                return found
        return None
    return f"{where}: {type(value).__name__} has no canonical JSON form here"


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of ``value`` (UTF-8).

    :raises CanonicalJsonError: a float, an integer beyond 2**53 - 1, a non-string key, a string that is not valid
        Unicode (a lone surrogate), or another type.
    """
    try:
        import rfc8785
    except ImportError:
        raise MissingDependencyError(
            'canonical invoices need the rfc8785 package: pip install "metering[audit]" (the cli extra includes it)'
        ) from None
    refused = _find_refused(value, "")
    if refused:
        raise CanonicalJsonError(refused)
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:  # e.g. a lone surrogate, which UTF-8 cannot carry
        raise CanonicalJsonError(f"value: {exc}") from exc
