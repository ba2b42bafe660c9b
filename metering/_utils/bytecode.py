"""The metadata trailer of Solidity bytecode, and the IPFS hash it commits to.

solc appends to the runtime code a CBOR map, ``{"ipfs": <multihash of metadata.json>, "solc": <version>}``,
followed by its length in two bytes. Everything before it is the executable code. Two builds whose code matches
but whose trailers differ came from the same program with different metadata (source paths, comments, settings
that do not change code): Sourcify calls that a partial match. Equal trailers mean the same metadata file, whose
sources' keccak-256 hashes pin every byte of the sources: a perfect match.

Only the small subset of CBOR and IPFS that solc emits is implemented here (no dependency for 60 lines).
"""

from __future__ import annotations

import hashlib

__all__ = ["decode_metadata_trailer", "ipfs_cid_v0", "metadata_hash", "split_metadata"]

#: solc stores files up to this size in one IPFS block (larger ones are a tree, not implemented here).
_IPFS_CHUNK = 256 * 1024
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def split_metadata(code: bytes) -> tuple[bytes, bytes]:
    """``(executable code, CBOR trailer with its 2-byte length)``; the trailer is empty when there is none."""
    if len(code) < 2:
        return code, b""
    length = int.from_bytes(code[-2:], "big")
    if length == 0 or length + 2 > len(code):
        return code, b""
    trailer = code[-(length + 2) :]
    try:
        decode_metadata_trailer(trailer)
    except ValueError:
        return code, b""
    return code[: -(length + 2)], trailer


def decode_metadata_trailer(trailer: bytes) -> dict[str, bytes | str | bool]:
    """The CBOR map of a trailer (with its length suffix) as ``{key: value}``; ValueError if it is not one."""
    data = trailer[:-2]
    items, end = _cbor_map(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after the CBOR map")
    return items


def metadata_hash(code: bytes) -> str | None:
    """The metadata hash the code commits to, as ``ipfs://<CIDv0>`` (or ``bzzr1://<hex>``); None without one."""
    _, trailer = split_metadata(code)
    if not trailer:
        return None
    items = decode_metadata_trailer(trailer)
    for key, scheme in (("ipfs", "ipfs"), ("bzzr1", "bzzr1"), ("bzzr0", "bzzr0")):
        value = items.get(key)
        if isinstance(value, bytes):
            return f"ipfs://{_base58(value)}" if key == "ipfs" else f"{scheme}://{value.hex()}"
    return None


def ipfs_cid_v0(data: bytes) -> str:
    """The IPFS CIDv0 (``Qm...``) solc computes for ``data``: one UnixFS file block, sha2-256 multihash.

    :raises ValueError: ``data`` is larger than one IPFS chunk (256 KiB); solc would build a tree.
    """
    if len(data) > _IPFS_CHUNK:
        raise ValueError(f"{len(data)} bytes span several IPFS blocks; only single-block files are supported")
    unixfs = b"\x08\x02" + (b"\x12" + _varint(len(data)) + data if data else b"") + b"\x18" + _varint(len(data))
    node = b"\x0a" + _varint(len(unixfs)) + unixfs
    return _base58(b"\x12\x20" + hashlib.sha256(node).digest())


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _base58(raw: bytes) -> str:
    number = int.from_bytes(raw, "big")
    digits = ""
    while number:
        number, rest = divmod(number, 58)
        digits = _B58[rest] + digits
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + digits


def _cbor_head(data: bytes, pos: int) -> tuple[int, int, int]:
    """(major type, argument, position after the head) of the CBOR item at ``pos``."""
    if pos >= len(data):
        raise ValueError("CBOR item runs past the end")
    first = data[pos]
    major, info = first >> 5, first & 0x1F
    if info < 24:
        return major, info, pos + 1
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None or pos + 1 + size > len(data):
        raise ValueError("unsupported CBOR length")
    return major, int.from_bytes(data[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


def _cbor_map(data: bytes, pos: int) -> tuple[dict[str, bytes | str | bool], int]:
    major, count, pos = _cbor_head(data, pos)
    if major != 5:
        raise ValueError("not a CBOR map")
    items: dict[str, bytes | str | bool] = {}
    for _ in range(count):
        key, pos = _cbor_scalar(data, pos)
        if not isinstance(key, str):
            raise ValueError("CBOR map key is not text")
        items[key], pos = _cbor_scalar(data, pos)
    return items, pos


def _cbor_scalar(data: bytes, pos: int) -> tuple[bytes | str | bool, int]:
    """A byte string, text string or boolean: what solc's metadata map holds."""
    major, arg, pos = _cbor_head(data, pos)
    if major in (2, 3):
        if pos + arg > len(data):
            raise ValueError("CBOR string runs past the end")
        raw = data[pos : pos + arg]
        return (raw if major == 2 else raw.decode("utf-8", errors="strict")), pos + arg
    if major == 7 and arg in (20, 21):
        return arg == 21, pos
    raise ValueError(f"unsupported CBOR item (major type {major})")
