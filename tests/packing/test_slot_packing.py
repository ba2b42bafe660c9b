"""Fuzzed packing tests of the slot libraries Meter keeps its hot state in (contracts/types/*Slot.sol, Cursor.sol).

Each slot is one storage word whose layout is documented in its library. These tests pin that layout: a plainly
written Python model packs the same fields at the documented offsets, and for random field values the library must
produce the same word, read every field back unchanged, and have each setter change its own field and nothing else.
A wrong shift, a mask that is one bit short, or a bool shifted as a uint8 (which silently packs 0) fails here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract


@dataclass(frozen=True)
class Layout:
    """Fields of a packed word: (name, lowest bit, width in bits). Bits outside every field are zero."""

    fields: tuple[tuple[str, int, int], ...]

    def pack(self, values: Mapping[str, int]) -> int:
        word = 0
        for name, offset, bits in self.fields:
            value = int(values[name])
            assert 0 <= value < 1 << bits, (name, value)
            word |= value << offset
        return word

    def unpack(self, word: int) -> dict[str, int]:
        return {name: (word >> offset) & ((1 << bits) - 1) for name, offset, bits in self.fields}

    def replace(self, word: int, **values: int) -> int:
        return self.pack({**self.unpack(word), **values})

    def strategy(self, **bounds: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, int]]:
        return st.fixed_dictionaries(
            {name: bounds.get(name, st.integers(0, (1 << bits) - 1)) for name, _, bits in self.fields}
        )


INSTANCE = Layout((
    ("customer", 0, 160), ("lease_end", 160, 40), ("timeframe", 200, 16), ("instance_type", 216, 16),
    ("generation", 232, 8), ("seat", 240, 8), ("status", 248, 2), ("detail", 250, 5), ("time_priced", 255, 1),
))
USAGE = Layout((
    ("activations", 0, 32), ("overage", 32, 32), ("leased", 64, 64),
    ("seat0", 128, 40), ("seat1", 168, 40), ("seat2", 208, 40),
))
ACCOUNT = Layout((
    ("status", 0, 8), ("restricted", 8, 1), ("revoked_any", 9, 1), ("cap", 16, 64), ("spent_timeframe", 80, 16),
    ("spent", 96, 96), ("cap_currency", 192, 64),
))
RULES = Layout((
    ("time_unit_seconds", 0, 24), ("price_per_time_unit", 24, 48), ("included_seconds", 72, 32),
    ("price_per_activation", 104, 48), ("included_activations", 152, 32), ("max_activations", 184, 32),
    ("max_concurrent", 216, 7), ("mode", 223, 1), ("max_lease_seconds", 224, 32),
))
CURSOR = Layout((
    ("count", 0, 16), ("walked", 16, 16), ("id", 32, 16), ("start", 48, 40), ("end", 88, 40), ("currency", 128, 64),
))
TERMS = Layout((("timeframe_end", 0, 40), ("lease_bound", 40, 32), ("price_per_continuation", 72, 48)))

EXAMPLES = settings(max_examples=40, deadline=None)
BOOL = st.integers(0, 1)
INSTANCES = INSTANCE.strategy(status=st.integers(0, 3), time_priced=BOOL)
ACCOUNTS = ACCOUNT.strategy(status=st.integers(0, 2), restricted=BOOL, revoked_any=BOOL)
RULESETS = RULES.strategy(max_concurrent=st.integers(0, 99), mode=BOOL)
UINT40 = st.integers(0, (1 << 40) - 1)


def address(value: int) -> str:
    return Web3.to_checksum_address(value.to_bytes(20, "big"))


def instance_args(f: Mapping[str, int]) -> list[Any]:
    return [address(f["customer"]), f["lease_end"], f["timeframe"], f["instance_type"], f["generation"], f["seat"],
            f["status"], f["detail"], bool(f["time_priced"])]


@EXAMPLES
@given(fields=INSTANCES)
def test_instance_record_packs_every_field_at_its_documented_offset_and_reads_it_back(
    slots: Contract, fields: dict[str, int]
) -> None:
    # A denied record's detail is a DenialReason (0-10): the contract never writes another there.
    assume(fields["status"] != 3 or fields["detail"] <= 10)
    word = slots.functions.instancePack(*instance_args(fields)).call()
    assert word == INSTANCE.pack(fields)
    customer, lease_end, timeframe, instance_type, generation, seat, status, is_open = (
        slots.functions.instanceUnpack(word).call()
    )
    assert int(customer, 16) == fields["customer"]
    assert (lease_end, timeframe, instance_type, generation, seat, status) == (
        fields["lease_end"], fields["timeframe"], fields["instance_type"], fields["generation"], fields["seat"],
        fields["status"],
    )
    assert is_open == (fields["status"] == 1)
    reason, detail, time_priced = slots.functions.instanceFlags(word).call()
    # The detail is a denied record's reason, a granted one's lease tag: reason() reads it only when denied.
    assert (detail, time_priced) == (fields["detail"], bool(fields["time_priced"]))
    assert reason == (fields["detail"] if fields["status"] == 3 else 0)


@EXAMPLES
@given(lease=st.integers(1, (1 << 32) - 1))
def test_lease_tag_is_the_documented_5_bit_hash(slots: Contract, lease: int) -> None:
    assert slots.functions.leaseTag(lease).call() == (lease * 2654435761 >> 27) & 31


@EXAMPLES
@given(fields=INSTANCES, lease_end=UINT40)
def test_instance_record_setters_change_their_field_and_nothing_else(
    slots: Contract, fields: dict[str, int], lease_end: int
) -> None:
    word = INSTANCE.pack(fields)
    assert slots.functions.instanceWithLeaseEnd(word, lease_end).call() == INSTANCE.replace(word, lease_end=lease_end)
    assert slots.functions.instanceClosed(word).call() == INSTANCE.replace(word, status=2)


@EXAMPLES
@given(fields=USAGE.strategy(), k=st.integers(0, 2), lease_end=UINT40, leased=st.integers(0, (1 << 64) - 1),
       activations=st.integers(0, (1 << 32) - 1), overage=st.integers(0, (1 << 32) - 1))
def test_usage_slot_round_trips_and_its_setters_touch_only_their_fields(
    slots: Contract, fields: dict[str, int], k: int, lease_end: int, leased: int, activations: int, overage: int
) -> None:
    names = ("activations", "overage", "leased", "seat0", "seat1", "seat2")
    word = slots.functions.usagePack(*(fields[n] for n in names)).call()
    assert word == USAGE.pack(fields)
    assert slots.functions.usageUnpack(word).call() == [fields[n] for n in names]
    assert slots.functions.usageWithSeatEnd(word, k, lease_end).call() == USAGE.replace(word, **{f"seat{k}": lease_end})
    assert slots.functions.usageWithLeasedSeconds(word, leased).call() == USAGE.replace(word, leased=leased)
    assert slots.functions.usageWithActivations(word, activations, overage).call() == USAGE.replace(
        word, activations=activations, overage=overage
    )


@EXAMPLES
@given(fields=ACCOUNTS, other=ACCOUNTS)
def test_customer_account_round_trips_and_its_setters_touch_only_their_fields(
    slots: Contract, fields: dict[str, int], other: dict[str, int]
) -> None:
    currency = fields["cap_currency"].to_bytes(8, "big")
    account = (fields["status"], bool(fields["restricted"]), fields["cap"], fields["spent_timeframe"], fields["spent"],
               currency, bool(fields["revoked_any"]))
    word = slots.functions.accountPack(account).call()
    assert word == ACCOUNT.pack(fields)
    unpacked, enrolled, screens, open_to_all = slots.functions.accountUnpack(word).call()
    assert tuple(unpacked) == account
    assert enrolled == (fields["status"] == 1)
    assert screens == bool(fields["restricted"] or fields["revoked_any"])
    assert open_to_all == (enrolled and not screens)
    f = slots.functions
    assert f.accountWithStatus(word, other["status"]).call() == ACCOUNT.replace(word, status=other["status"])
    assert f.accountWithRestricted(word, bool(other["restricted"])).call() == ACCOUNT.replace(
        word, restricted=other["restricted"]
    )
    assert f.accountWithSpendingCap(word, other["cap"], other["cap_currency"].to_bytes(8, "big")).call() == (
        ACCOUNT.replace(word, cap=other["cap"], cap_currency=other["cap_currency"])
    )
    assert f.accountWithRevokedAny(word).call() == ACCOUNT.replace(word, revoked_any=1)
    assert f.accountWithSpent(word, other["spent_timeframe"], other["spent"]).call() == ACCOUNT.replace(
        word, spent_timeframe=other["spent_timeframe"], spent=other["spent"]
    )


@EXAMPLES
@given(fields=RULESETS, continuation=st.integers(0, (1 << 48) - 1))
def test_rules_slot_round_trips_the_rules_and_says_whether_they_are_set(
    slots: Contract, fields: dict[str, int], continuation: int
) -> None:
    # IMeteringTypes.Rules in ABI order; the continuation price lives outside the slot.
    rules = (fields["price_per_activation"], continuation, fields["price_per_time_unit"], fields["time_unit_seconds"],
             fields["included_activations"], fields["included_seconds"], fields["max_concurrent"],
             fields["max_activations"], fields["mode"], fields["max_lease_seconds"])
    word = slots.functions.rulesPack(rules).call()
    assert word == RULES.pack(fields)
    unpacked, configured, soft = slots.functions.rulesUnpack(word, continuation).call()
    assert tuple(unpacked) == rules
    assert configured == (fields["time_unit_seconds"] != 0)
    assert soft == (fields["mode"] == 1)


@EXAMPLES
@given(fields=CURSOR.strategy(), count=st.integers(0, (1 << 16) - 1), walked=st.integers(0, (1 << 16) - 1))
def test_cursor_round_trips_and_its_setters_touch_only_their_fields(
    slots: Contract, fields: dict[str, int], count: int, walked: int
) -> None:
    names = ("count", "walked", "id", "start", "end")
    currency = fields["currency"].to_bytes(8, "big")
    word = slots.functions.cursorPack(*(fields[n] for n in names), currency).call()
    assert word == CURSOR.pack(fields)
    assert slots.functions.cursorUnpack(word).call() == [*(fields[n] for n in names), currency]
    assert slots.functions.cursorWithCount(word, count).call() == CURSOR.replace(word, count=count)
    assert slots.functions.cursorWithWalked(word, walked).call() == CURSOR.replace(word, walked=walked)


@EXAMPLES
@given(fields=TERMS.strategy())
def test_terms_slot_round_trips(slots: Contract, fields: dict[str, int]) -> None:
    names = ("price_per_continuation", "lease_bound", "timeframe_end")
    word = slots.functions.termsPack(*(fields[n] for n in names)).call()
    assert word == TERMS.pack(fields)
    assert slots.functions.termsUnpack(word).call() == [fields[n] for n in names]


def test_an_unset_rules_slot_reads_as_not_configured(slots: Contract) -> None:
    unpacked, configured, soft = slots.functions.rulesUnpack(0, 0).call()
    assert (tuple(unpacked), configured, soft) == ((0,) * 10, False, False)
