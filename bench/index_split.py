"""Where a sync's time goes: each part of ``Indexer.sync`` alone, against the same ceiling (I1), and the bound they set.

Why: a sync parses each ``eth_getLogs`` answer, decodes the logs into rows and writes the rows, all in one Python
process and so under one GIL (the reader thread overlaps only the node's own work and the socket). Its wall time
cannot fall below the sum of those parts' CPU times, whatever the ranges and threads; with a node on the same two
cores it is above it. Measuring each part alone on the very logs of I1 says how far the sync is from that floor and
what the target asks of each part.

Rows (each the median of ``runs``, CPU time of this process, on the logs I1 read, split into the sync's ranges):

* S1 parsing: ``orjson.loads`` of the ``eth_getLogs`` answer (the ceiling does this too);
* S2 decoding: the indexer's own decoding of each range (``Indexer._decode``: the word-level builder of
  :mod:`metering._utils.wordrows` and the indexer's per-log checks), rows already parsed;
* S3 writing into SQLite: a new store, one ``Store.append_rows`` per range with its block hashes, open to close;
* S4 (with PostgreSQL) the same writes into a new PostgreSQL schema (this process's CPU only: the server's work
  runs in its own process);
* B the bound: I1's wall time over S1 + S2 + S3 (and S1 + S2 + S4): the best ratio a sync in one process could
  reach if nothing overlapped the node. Against the target (0.5) it says whether tuning the parts can get there.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["split_rows"]

_Range = tuple[int, int, list[dict[str, Any]]]


def _cpu(runs: int, fn: Callable[[], int]) -> tuple[int, tuple[float, ...]]:
    """``fn``'s item count and its CPU seconds in each of ``runs`` calls."""
    seconds, counts = [], set()
    for _ in range(runs):
        began = time.process_time()
        counts.add(fn())
        seconds.append(time.process_time() - began)
    if len(counts) != 1:
        raise RuntimeError(f"repeated runs handled different numbers of items: {sorted(counts)}")
    return counts.pop(), tuple(seconds)


def _ranges(logs: list[dict[str, Any]], spans: Sequence[tuple[int, int]]) -> list[_Range]:
    """The logs in ``spans``: the ``(first, last)`` blocks of the ranges a sync read them in."""
    return [(first, last, [log for log in logs if first <= int(log["blockNumber"], 16) <= last])
            for first, last in spans]


def split_rows(
    w3: Any, payload: bytes, history: Any, spans: Sequence[tuple[int, int]], ceiling_seconds: float, runs: int,
    postgres_url: Callable[[], str] | None, row: Callable[..., Any], timing: Callable[..., Any],
) -> list[Any]:
    """S1-S4 and B for the history I1 read (``payload``: the ``eth_getLogs`` answer it parses; ``row`` and ``timing``
    build the bench's table rows)."""
    import orjson

    from metering.audit.indexer import Indexer, _Fetched, _Header
    from metering.audit.store import Store, StoredBlock

    logs: list[dict[str, Any]] = orjson.loads(payload)["result"]
    ranges = _ranges(logs, spans)
    tips = {last: bytes(w3.eth.get_block(last)["hash"]) for _first, last, _part in ranges}
    chain_id = int(w3.eth.chain_id)
    decoded: list[tuple[int, int, list[tuple[Any, ...]], list[Any]]] = []
    made = iter(range(1, 1_000_000))

    def parse() -> int:
        return len(orjson.loads(payload)["result"])

    def decode(indexer: Indexer) -> Callable[[], int]:
        def run() -> int:
            decoded.clear()
            for first, last, part in ranges:
                rows, hashes = indexer._decode(_Fetched(first, last, _Header(last, tips[last], 0), part, None))
                blocks = [StoredBlock(n, h, 0 if n == last else None) for n, h in sorted(hashes.items())]
                decoded.append((first, last, rows, blocks))
            return sum(len(rows) for _f, _l, rows, _b in decoded)
        return run

    def write(location: Callable[[], str]) -> Callable[[], int]:
        def run() -> int:
            with Store(location(), chain_id=chain_id, contract=history.address) as store:
                return sum(store.append_rows(rows, blocks, last, first_block=first)
                           for first, last, rows, blocks in decoded)
        return run

    parts: dict[str, float] = {}
    out = []
    with tempfile.TemporaryDirectory(prefix="metering-split-") as tmp:
        scratch = Store(Path(tmp) / "decoder.sqlite", chain_id=chain_id, contract=history.address)
        measured = [
            ("S1", "parsing the eth_getLogs answer alone (orjson.loads, as I1 does)", parse),
            ("S2", "decoding the parsed logs alone (the indexer's own decoding and checks, range by range)",
             decode(Indexer(w3, history.address, scratch, start_block=history.first_block))),
            ("S3", "writing the decoded rows alone into a new SQLite store (append_rows per range, open to close)",
             write(lambda: str(Path(tmp) / f"written-{next(made)}.sqlite"))),
        ]
        if postgres_url is not None:
            measured.append(("S4", "writing the decoded rows alone into a new PostgreSQL schema (this process's CPU; "
                             "the server works beside it)", write(postgres_url)))
        for key, name, fn in measured:
            items, seconds = _cpu(runs, fn)
            parts[key] = statistics.median(seconds)
            out.append(row(key, f"{name}; CPU seconds", items, timing(items, seconds),
                           f"{items / parts[key]:,.0f} events/s", f"{parts[key] / ceiling_seconds:.2f}x I1"))
        scratch.close()
    for store, write_key in (("SQLite", "S3"), ("PostgreSQL", "S4")):
        if write_key in parts:
            floor = parts["S1"] + parts["S2"] + parts[write_key]
            out.append(row(f"B{write_key[1]}", f"the bound on {store}: I1 over S1 + S2 + {write_key} ({floor:.3f} s "
                           "of CPU under one GIL), the best a sync in one process could reach", len(logs), None,
                           f"{floor * 1000:.0f} ms", f"{ceiling_seconds / floor:.2f} of I1"))
    return out
