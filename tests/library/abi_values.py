"""Hypothesis strategies for ABI-typed values, read from ABI entries, so codec tests cover every event and function
of whatever ABI they are given (the Meter's today, its v2 tomorrow) without naming any."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from eth_utils.address import to_checksum_address
from hypothesis import strategies as st

_ARRAY = re.compile(r"^(.*)\[(\d*)\]$")


def values(item: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Values of the ABI input ``item`` as web3 returns them (checksummed addresses, tuples for arrays/structs)."""
    kind = str(item["type"])
    array = _ARRAY.match(kind)
    if array:
        inner = values({**item, "type": array.group(1)})
        size = array.group(2)
        if size:
            return st.lists(inner, min_size=int(size), max_size=int(size)).map(tuple)
        return st.lists(inner, max_size=4).map(tuple)
    if kind == "tuple":
        return st.tuples(*(values(c) for c in item.get("components", [])))
    if kind == "address":
        return st.binary(min_size=20, max_size=20).map(to_checksum_address)
    if kind == "bool":
        return st.booleans()
    if kind == "string":
        return st.text(max_size=40)
    if kind == "bytes":
        return st.binary(max_size=70)
    if kind.startswith("uint"):
        return st.integers(min_value=0, max_value=2 ** int(kind[4:]) - 1)
    if kind.startswith("int"):
        bits = int(kind[3:])
        return st.integers(min_value=-(2 ** (bits - 1)), max_value=2 ** (bits - 1) - 1)
    if kind.startswith("bytes"):
        size = int(kind[5:])
        return st.binary(min_size=size, max_size=size)
    raise NotImplementedError(f"no strategy for ABI type {kind}")


def arguments(entry: Mapping[str, Any]) -> st.SearchStrategy[list[Any]]:
    """A list of values for the inputs of an ABI ``entry`` (event or function)."""
    return st.tuples(*(values(i) for i in entry.get("inputs", []))).map(list)
