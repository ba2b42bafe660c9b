"""``bench/indexing.py``: its synthetic stores hold exactly the rows the indexer would store, and ``--quick`` runs end
to end, printing every row with its numbers (no timing is judged: the verdicts are the benchmark's, not a test's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metering._utils.storerows import COLUMNS, RowBuilder
from metering.audit.store import Store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import synthetic  # noqa: E402 - bench/ is not a package


def _log_of(row: tuple[object, ...]) -> dict[str, object]:
    """The raw JSON-RPC log a stored row came from."""
    values = dict(zip(COLUMNS, row, strict=True))
    topics = values["topics"]
    assert isinstance(topics, bytes)
    return {
        "address": synthetic.CONTRACT.lower(),
        "blockNumber": hex(int(str(values["block_number"]))),
        "logIndex": hex(int(str(values["log_index"]))),
        "blockHash": "0x" + bytes(values["block_hash"]).hex(),  # type: ignore[call-overload]
        "transactionHash": "0x" + bytes(values["tx_hash"]).hex(),  # type: ignore[call-overload]
        "topics": ["0x" + topics[i:i + 32].hex() for i in range(0, len(topics), 32)],
        "data": "0x" + bytes(values["data"]).hex(),  # type: ignore[call-overload]
        "removed": False,
    }


def test_synthetic_rows_are_the_rows_the_indexer_stores_for_their_logs(tmp_path: Path) -> None:
    made = synthetic.build(tmp_path / "s.sqlite", 16_000)  # long enough for expiries (1,200 blocks)
    builder = RowBuilder()
    with Store(made.path) as store:
        stored = store._db.execute(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY position").fetchall()
        assert len(stored) == 16_000
        assert {row[5] for row in stored} == {"TimeframeCreated", "RulesSet", "ActivationGranted", "LeaseRenewed",
                                              "InstanceDeactivated", "LeaseExpired", "ActivationDenied"}
        for row in stored:
            assert builder.row(_log_of(row)) == tuple(row)
        assert len(store.customers(synthetic.TIMEFRAME)) == made.customers == 160


@pytest.mark.timeout(600)
def test_the_quick_benchmark_prints_every_row_with_numbers(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "indexing.py"), "--quick", "--cache", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    table = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("#", "---"):
            table[cells[0]] = cells
    expected = {"I1", "I2", "S1", "S2", "S3", "B3", "P1", "P2", "P3", "Q1", "Q2", "Q3", "G", "M", "L", "C"}
    assert expected <= set(table), done.stdout
    for key in expected - {"G", "M"}:
        assert float(table[key][2].replace(",", "")) > 0, key
        assert float(table[key][4].split()[0].replace(",", "")) > 0, key
    for key in ("I2", "Q3", "G", "M", "L", "C"):
        assert table[key][7] == "(quick: not judged)", key
    # The parts of a sync alone cover the same events as the sync, and the bound is I1 over their sum.
    assert table["S1"][2] == table["S2"][2] == table["S3"][2] == table["I2"][2]
    assert 0 < float(table["B3"][5].split()[0]) < float(table["S1"][5].split("x")[0]) ** -1
