"""Synthetic event databases of any size, for the invoice and web benchmarks: deterministic, and written straight
in the store's format (no node, no transactions), so a million events take seconds rather than hours.

Every row is exactly what the indexer would store for the same log: the raw topics and data are the ABI encoding of
the event's fields, and the row goes through the store's own row builder (a test checks a sample against the
indexer's decoder). The history is a consistent one that the final invoices accept:

* block 1 creates timeframe 1 (EUR) and sets rules for instance types 1 and 2;
* from block 2 on, one transaction per block (``timestamp = GENESIS + number``): four grants, renewals of the
  instances granted 300 blocks earlier, stops of those granted 500 blocks earlier, the expiry of one granted 1,200
  blocks earlier, and one denial: about 12 events a block;
* customers: ``events // 100`` of them (at least 2), so each has about 100 events whatever the size, except the
  *heavy* customer (the first), which gets one instance in 90: about 1.1 % of the events (10,000 at a million);
* the timeframe ends 1,000 s after the last event and the store is indexed past its end, so final invoices exist.

Usage::

    python bench/synthetic.py out.sqlite --events 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from metering._utils.logdecode import meter_event_decoder
from metering._utils.storerows import event_row, row_of_event
from metering.audit.events import RulesSet, TimeframeCreated
from metering.audit.store import SCHEMA_VERSION, Store, StoredBlock
from metering.contract import DenialReason
from metering.types import Rules, rules_hash

#: Bumped whenever the generated history or the file it is written to changes (cached stores of another version are
#: rebuilt): 3 since new SQLite stores use 16 KiB pages.
VERSION = 3

CHAIN_ID = 31337
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
AGENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
GENESIS = 1_800_000_000
TIMEFRAME = 1
LEASE = 600
RENEW_AFTER, STOP_AFTER, EXPIRE_AFTER = 300, 500, 1_200
GRANTS_PER_BLOCK = 4
HEAVY_SHARE = 90  # one instance in HEAVY_SHARE goes to the heavy customer
RULES = {
    1: Rules(price_per_activation=1_000_000, price_per_time_unit=12_000_000, time_unit_seconds=3_600,
             included_activations=10, included_seconds=3_600),
    2: Rules(price_per_activation=400, price_per_time_unit=7, time_unit_seconds=1),
}
_CHUNK = 100_000  # rows per transaction


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def customer_address(index: int) -> str:
    return str(to_checksum_address(_digest(f"customer-{index}")[:20]))


@dataclass(frozen=True)
class SyntheticStore:
    """What :func:`build` wrote: the file, its size in events, the timeframe's blocks, and its customers."""

    path: Path | str  # a SQLite file or a postgresql:// URL
    events: int
    customers: int
    heavy_customer: str
    first_block: int
    last_event_block: int
    head: int

    @property
    def timeframe_end(self) -> int:
        return GENESIS + self.last_event_block + 1_000


class SyntheticClock:
    """Block times of the synthetic chain: one block a second from ``GENESIS``, up to ``head``."""

    def __init__(self, head: int) -> None:
        self._head = head

    def head(self) -> int:
        return self._head

    def timestamp(self, number: int) -> int:
        return GENESIS + number


class _Encoder:
    """The raw topics and data of the usage events, written word by word as the contract's ABI encoding is."""

    def __init__(self) -> None:
        decoder = meter_event_decoder()
        self.topic0 = {
            name: decoder.topic(name)
            for name in ("ActivationGranted", "ActivationDenied", "LeaseRenewed", "InstanceDeactivated",
                         "LeaseExpired")
        }

    def log(self, name: str, instance: bytes, customer: bytes, kind: int, words: tuple[int, ...]) -> tuple[
        bytes, bytes
    ]:
        topics = b"".join((self.topic0[name], instance, bytes(12), customer, kind.to_bytes(32, "big")))
        return topics, b"".join(w.to_bytes(32, "big") for w in words)


def _usage_rows(events: int, customers: int) -> Iterator[tuple[Any, ...]]:
    """The usage events in chain order, as rows, until ``events`` rows."""
    encoder = _Encoder()
    agent = bytes.fromhex(AGENT[2:])
    names = [customer_address(i) for i in range(customers)]
    raw = [bytes.fromhex(n[2:]) for n in names]
    made = 0
    block = 2

    def instance(block_of_grant: int, k: int) -> tuple[bytes, int, int, int]:
        """(instance id, customer index, type, started_at) of the k-th grant of a block."""
        i = (block_of_grant - 2) * GRANTS_PER_BLOCK + k
        customer = 0 if i % HEAVY_SHARE == 0 else 1 + (i * 7_919) % (customers - 1)
        return agent + bytes(4) + ((i + 1) << 8 | 1).to_bytes(8, "big"), customer, 1 + k % 2, GENESIS + block_of_grant

    while True:
        now = GENESIS + block
        block_hash, tx_hash = _digest(f"block-{block}"), _digest(f"tx-{block}")
        logs: list[tuple[str, bytes, int, int, dict[str, Any], tuple[int, ...]]] = []
        for k in range(GRANTS_PER_BLOCK):
            iid, c, kind, started = instance(block, k)
            logs.append(("ActivationGranted", iid, c, kind,
                         {"started_at": started, "lease_end": started + LEASE, "overage": False},
                         (TIMEFRAME, started, started + LEASE, 0)))
        if block - RENEW_AFTER >= 2:
            for k in (0, 1, 2):
                iid, c, kind, started = instance(block - RENEW_AFTER, k)
                logs.append(("LeaseRenewed", iid, c, kind, {"lease_end": now + LEASE}, (TIMEFRAME, now + LEASE)))
        if block - STOP_AFTER >= 2:
            for k in (0, 1, 3):
                iid, c, kind, started = instance(block - STOP_AFTER, k)
                logs.append(("InstanceDeactivated", iid, c, kind, {"stopped_at": now}, (TIMEFRAME, now)))
        if block - EXPIRE_AFTER >= 2:
            iid, c, kind, started = instance(block - EXPIRE_AFTER, 2)
            end = started + RENEW_AFTER + LEASE
            logs.append(("LeaseExpired", iid, c, kind, {"lease_end": end}, (TIMEFRAME, end)))
        denied_iid = agent + bytes(4) + ((1 << 40) + block << 8 | 1).to_bytes(8, "big")
        logs.append(("ActivationDenied", denied_iid, (block * 31) % customers, 1,
                     {"reason": DenialReason.CONCURRENCY_LIMIT_REACHED},
                     (TIMEFRAME, int(DenialReason.CONCURRENCY_LIMIT_REACHED))))
        for log_index, (name, iid, c, kind, fields, words) in enumerate(logs):
            values = {"instance_id": iid, "customer": names[c], "instance_type": kind, "timeframe": TIMEFRAME, **fields}
            topics, data = encoder.log(name, iid, raw[c], kind, words)
            yield event_row(name, block, log_index, block_hash, tx_hash, values, topics, data)
            made += 1
            if made >= events:
                return
        block += 1


def _setup_rows(last_event_block: int) -> list[tuple[Any, ...]]:
    end = GENESIS + last_event_block + 1_000
    where = {"block_number": 1, "block_hash": _digest("block-1"), "tx_hash": _digest("tx-1")}
    events: list[Any] = [
        TimeframeCreated(**where, log_index=0, timeframe=TIMEFRAME, start=GENESIS + 2, end=end, currency="EUR")
    ]
    for n, (kind, rules) in enumerate(sorted(RULES.items()), start=1):
        events.append(RulesSet(**where, log_index=n, timeframe=TIMEFRAME, instance_type=kind,
                               rules_hash=rules_hash(TIMEFRAME, kind, rules), rules=rules))
    return [row_of_event(e) for e in events]


def _blocks_of(rows: list[tuple[Any, ...]], tip: int | None) -> list[StoredBlock]:
    seen = {row[1]: row[3] for row in rows}
    return [StoredBlock(n, h, GENESIS + n if n == tip else None) for n, h in sorted(seen.items())]


def build(path: Path | str, events: int) -> SyntheticStore:
    """Write a store of ``events`` events (usage events plus the timeframe's setup) at ``path`` (a SQLite file,
    replaced, or a ``postgresql://`` URL of an empty database or schema)."""
    if events < 100:
        raise ValueError("at least 100 events")
    customers = max(2, events // 100)
    if not str(path).startswith("postgresql://"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    with Store(path, chain_id=CHAIN_ID, contract=CONTRACT) as store:
        store.set_first_block(1)
        chunk: list[tuple[Any, ...]] = []
        last = 1
        for row in _usage_rows(events - len(RULES) - 1, customers):
            chunk.append(row)
            if len(chunk) >= _CHUNK:
                last = chunk[-1][1]
                store.append_rows(chunk, _blocks_of(chunk, None), last - 1)
                chunk = []
        last = chunk[-1][1] if chunk else last
        end_block = last + 1_000  # the first block at or after the timeframe's end (one block a second)
        head = end_block + 5
        setup = _setup_rows(last)
        tip = StoredBlock(head, _digest(f"block-{head}"), GENESIS + head)
        store.append_rows(chunk + setup, [*_blocks_of(chunk + setup, None), tip], head)
    return SyntheticStore(Path(path) if isinstance(path, Path) else path, events, customers, customer_address(0), 1,
                          last, head)


def cached(directory: Path, events: int) -> SyntheticStore:
    """:func:`build` once per size and generator version: later runs reuse the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"synthetic-v{VERSION}-s{SCHEMA_VERSION}-{events}.sqlite"
    done = path.with_suffix(".done")
    if not (path.is_file() and done.is_file()):
        done.unlink(missing_ok=True)
        build(path, events)
        done.write_text("ok\n")
    with Store(path) as store:
        last_event_block = store.events(newest_first=True, limit=1)[0].block_number
        head = store.last_block or 0
    return SyntheticStore(path, events, max(2, events // 100), customer_address(0), 1, last_event_block, head)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    made = build(args.path, args.events)
    print(f"{made.events:,} events, {made.customers:,} customers (heavy: {made.heavy_customer}) in "
          f"{time.perf_counter() - began:.1f} s: {made.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
