"""RFC 8785 (JSON Canonicalization Scheme) for the values our documents hold: objects, arrays, strings, safe
integers, booleans and null.

Why our own: the invoice hash must not depend on which JSON library a reader has, so the bytes follow RFC 8785:
object members sorted by the UTF-16 code units of their names, no whitespace, strings escaped as ECMAScript's
``JSON.stringify`` does (only ``"``, ``\\`` and control characters; everything else as UTF-8), numbers as ECMAScript
prints them. Our documents hold no floats, so numbers are integers, and only those a JSON reader keeps exactly
(magnitude below 2**53): larger values must be written as decimal strings by the caller (as amounts are). The tests
check these bytes against the ``rfc8785`` reference package.

>>> canonical_json({"b": [1, True, None], "a": "é"})
b'{"a":"\\xc3\\xa9","b":[1,true,null]}'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MAX_SAFE_INTEGER", "CanonicalJsonError", "canonical_json"]

#: The largest integer every JSON reader keeps exactly (``Number.MAX_SAFE_INTEGER``).
MAX_SAFE_INTEGER = 2**53 - 1

_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class CanonicalJsonError(ValueError):
    """A value has no canonical form here (a float, an unsafe integer, a non-string key, another type)."""


def _string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _SHORT:
            out.append(_SHORT[char])
        elif char < " " or "\ud800" <= char <= "\udfff":  # control characters, lone surrogates (ES2019)
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _utf16_key(name: str) -> bytes:
    # Big-endian UTF-16 bytes compare as the code units do.
    return name.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str], path: str) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalJsonError(f"{path or 'value'}: {value} is beyond 2**53 - 1; write it as a decimal string")
        out.append(str(int(value)))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Mapping):
        out.append("{")
        names = list(value)
        for name in names:
            if not isinstance(name, str):
                raise CanonicalJsonError(f"{path or 'value'}: object keys must be strings, found {name!r}")
        for index, name in enumerate(sorted(names, key=_utf16_key)):
            if index:
                out.append(",")
            out.append(_string(name))
            out.append(":")
            _write(value[name], out, f"{path}.{name}" if path else name)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, f"{path}[{index}]")
        out.append("]")
    else:
        raise CanonicalJsonError(f"{path or 'value'}: {type(value).__name__} has no canonical JSON form here")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of ``value`` (UTF-8).

    :raises CanonicalJsonError: a float, an integer beyond 2**53 - 1, a non-string key, or another type.
    """
    out: list[str] = []
    _write(value, out, "")
    return "".join(out).encode("utf-8")
