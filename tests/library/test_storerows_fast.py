"""The indexer's fast path for events whose arguments are each one word (every usage event): it reads them in place
into a row, and must give exactly the row, and the errors, of the general path through the decoder.

The adversary is a node (or a man in the middle) sending a log the contract could not have emitted: a word out of
its type's range, dirty padding, data cut short. The fast path must refuse each as the decoder does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from metering._utils.storerows import RowBuilder
from metering.contract import abi
from metering.errors import EventDecodeError

from .abi_values import arguments
from .test_logdecode import _events, _log


def _general() -> RowBuilder:
    """A builder that decodes every event through :meth:`EventSpec.decode_blob` (no fast path)."""
    builder = RowBuilder()
    builder._words.clear()
    return builder


def test_every_usage_event_takes_the_fast_path() -> None:
    assert {"ActivationGranted", "ActivationDenied", "LeaseRenewed", "LeaseContinued", "InstanceDeactivated",
            "LeaseExpired"} <= set(RowBuilder()._words)


@pytest.mark.parametrize("event", _events(abi()), ids=lambda e: str(e["name"]))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_the_fast_path_gives_the_general_paths_row(event: Mapping[str, Any], data: st.DataObject) -> None:
    log = _log(event, data.draw(arguments(event)), raw=True)

    assert _outcome(RowBuilder(), log) == _outcome(_general(), log)


def _outcome(builder: RowBuilder, log: Mapping[str, Any]) -> object:
    """The row, or the error (a code the contract does not know, rules it would refuse: whatever either path
    raises, the other must raise too)."""
    try:
        return builder.row(log)
    except Exception as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize(
    ("word", "field"),
    [
        ("00" * 31 + "02", "overage"),  # a bool that is neither 0 nor 1
        ("00" * 26 + "01" + "00" * 5, "startedAt"),  # a uint40 beyond 40 bits
    ],
)
def test_the_fast_path_refuses_malformed_words_and_short_data(word: str, field: str) -> None:
    granted = next(e for e in abi() if e.get("name") == "ActivationGranted")
    values: list[Any] = [b"\x01" * 32, Web3.to_checksum_address("0x" + "cd" * 20), 1, 2, 3, 4, True]
    log = _log(granted, values, raw=True)
    names = [i["name"] for i in granted["inputs"] if not i["indexed"]]
    words = [log["data"][2 + 64 * k: 2 + 64 * (k + 1)] for k in range(len(names))]
    words[names.index(field)] = word
    for builder in (RowBuilder(), _general()):
        with pytest.raises(EventDecodeError):
            builder.row(dict(log, data="0x" + "".join(words)))
        with pytest.raises(EventDecodeError, match="data bytes"):
            builder.row(dict(log, data=log["data"][:-64]))
    dirty = dict(log, topics=[*log["topics"][:2], "0x01" + log["topics"][2][4:], *log["topics"][3:]])
    with pytest.raises(EventDecodeError, match="padding"):  # the customer topic: an address with dirty padding
        RowBuilder().row(dirty)
