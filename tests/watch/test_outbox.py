"""The outbox over a synthetic store: nothing lost and nothing twice across crashes, a flaky receiver and a receiver
that is down for a while; chain-derived ids; backoff; signatures the standardwebhooks verifier accepts."""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from metering.audit.events import ActivationDenied, LeaseRenewalDenied
from metering.audit.store import Store
from metering.errors import DeliveryError
from metering.watch.config import parse_watch_config
from metering.watch.outbox import Backoff, Outbox
from metering.watch.sinks import WebhookSink
from metering.watch.watcher import Deliverer, Watcher

from .receiver import Receiver

pytest.importorskip("standardwebhooks", reason="the watch needs the watch extra: pip install 'metering[watch]'")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402 - bench/ is not a package

SECRET = "whsec_" + base64.b64encode(b"metering-watch-test-secret-32byte").decode()


@pytest.fixture(scope="module")
def denials_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A synthetic store with over 1,000 denials (one a block), and the notification ids they must give."""
    path = tmp_path_factory.mktemp("watch") / "store.sqlite"
    synthetic.build(path, 13_000)
    with Store(path) as store:
        denied = store.events(names=[ActivationDenied.name, LeaseRenewalDenied.name])
    ids = {f"denials:0x{e.tx_hash.hex()}:{e.log_index}" for e in denied}
    assert len(ids) >= 1_000
    return path, ids


def _config(url: str) -> object:
    return parse_watch_config({
        "name": "t", "confirmations": 0,
        "sinks": {"hook": {"webhook": url, "secret": SECRET, "timeout": 2}},
        "rules": [{"name": "denials", "kind": "denial", "sinks": ["hook"]}],
    })


def test_webhooks_verify_with_the_standardwebhooks_verifier_and_a_wrong_secret_is_refused() -> None:
    receiver = Receiver(SECRET).start()
    try:
        WebhookSink("hook", receiver.url, SECRET).deliver("n-1", '{"type":"x","data":{"a":1}}')
        assert receiver.accepted == {"n-1": {"type": "x", "data": {"a": 1}}}
        other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        with pytest.raises(DeliveryError, match="HTTP 401"):
            WebhookSink("hook", receiver.url, other).deliver("n-2", "{}")
        assert receiver.rejected_signatures == 1
    finally:
        receiver.stop()


def test_a_receiver_that_is_down_is_a_delivery_error_not_a_crash() -> None:
    receiver = Receiver(SECRET).start()
    receiver.stop()
    with pytest.raises(DeliveryError, match="unreachable"):
        WebhookSink("hook", receiver.url, SECRET, timeout=1).deliver("n-1", "{}")


def test_evaluating_the_same_events_twice_queues_each_notification_once(
    denials_store: tuple[Path, set[str]], copy_store: Callable[[Path], str]
) -> None:
    path, ids = denials_store
    db = copy_store(path)
    config = _config("http://127.0.0.1:9/hook")
    with Store(db) as store:
        watcher = Watcher(store, config.rules, name="t", confirmations=0, start_block=0, batch=500)  # type: ignore[attr-defined]
        assert watcher.drain() == len(ids)
        # A crash before the cursor moved: evaluated again from the start, under another cursor name.
        again = Watcher(store, config.rules, name="t2", confirmations=0, start_block=0)  # type: ignore[attr-defined]
        assert again.drain() == 0
        assert {r[0] for r in store.query("SELECT id FROM outbox")} == ids


def test_confirmations_hold_back_the_newest_blocks(
    denials_store: tuple[Path, set[str]], copy_store: Callable[[Path], str]
) -> None:
    path, _ = denials_store
    db = copy_store(path)
    config = _config("http://127.0.0.1:9/hook")
    with Store(db) as store:
        last = store.last_block
        assert last is not None
        watcher = Watcher(store, config.rules, name="t", confirmations=10, start_block=0)  # type: ignore[attr-defined]
        watcher.drain()
        newest = max(int(r[0]) for r in store.query("SELECT block_number FROM outbox"))
        assert newest <= last - 10


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(base=1, cap=8, attempts=5)
    delays = [backoff.delay_ms(n) for n in range(1, 8)]
    assert 500 <= delays[0] <= 1000
    assert all(d <= 8000 for d in delays)
    assert delays[-1] >= 4000  # capped at 8 s, never below half of it


def test_a_sink_out_of_attempts_is_dead_and_can_be_retried(
    denials_store: tuple[Path, set[str]], copy_store: Callable[[Path], str]
) -> None:
    path, _ids = denials_store
    db = copy_store(path)
    receiver = Receiver(SECRET).start()
    receiver.stop()  # down from the start
    config = _config(receiver.url)
    with Store(db) as store:
        Watcher(store, config.rules, name="t", confirmations=0, start_block=0).drain()  # type: ignore[attr-defined]
        deliverer = Deliverer(Outbox(store), config.sinks, backoff=Backoff(base=0.001, cap=0.001, attempts=2))  # type: ignore[attr-defined]
        for _ in range(3):
            report = deliverer.deliver_due(limit=5)
            assert report.failed == 1  # one failure takes the sink out of this pass
            time.sleep(0.01)
        outbox = Outbox(store)
        assert outbox.counts()["dead"] >= 1
        assert outbox.retry_dead(int(time.time() * 1000)) >= 1
        assert outbox.counts()["dead"] == 0


def test_crash_and_restart_lose_nothing_and_repeat_nothing_with_a_flaky_slow_and_absent_receiver(
    denials_store: tuple[Path, set[str]], copy_store: Callable[[Path], str]
) -> None:
    path, ids = denials_store
    db = copy_store(path)
    receiver = Receiver(SECRET, fail_rate=0.2, slow_rate=0.05, slow_seconds=0.2).start()
    rng = random.Random(7)
    crashes = 0
    worker = [sys.executable, str(Path(__file__).with_name("_crashy_worker.py")), db, receiver.url, SECRET]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def launch() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(worker, stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        return proc

    try:
        for round_ in range(6):
            proc = launch()
            if round_ == 3:  # the receiver is down for a while, and the worker dies while it is
                receiver.stop()
            time.sleep(rng.uniform(0.3, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            crashes += 1
            if round_ == 3:
                receiver.start()
        proc = launch()
        deadline = time.monotonic() + 240
        while len(receiver.accepted) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.terminate()
        proc.wait(10)
    finally:
        receiver.stop()
    assert set(receiver.accepted) == ids  # 0 lost (and nothing that was not due)
    assert receiver.failed > 0.1 * len(ids)  # the receiver really failed about a fifth of the requests
    with Store(db) as store:
        rows = store.query("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        assert dict(rows) == {"delivered": len(ids)}  # each notification once in the outbox, all delivered
    # At least once: a crash between the receiver's 2xx and the outbox's commit sends that one again, with the same
    # webhook-id (receivers dedupe on it). Deliveries are sequential, so a crash repeats at most one.
    repeats = sum(receiver.accepts.values()) - len(receiver.accepts)
    print(f"\n{len(ids)} notifications, {crashes} crashes, {receiver.failed} answers 500, {repeats} repeated after "
          f"a 2xx, {receiver.rejected_signatures} bad signatures")
    assert repeats <= crashes and receiver.rejected_signatures == 0
    for wid, body in receiver.accepted.items():
        assert body["type"] in ("activation.denied", "renewal.denied")
        assert wid.endswith(f"{body['data']['tx_hash']}:{body['data']['log_index']}")


def test_a_command_sink_gets_the_body_on_stdin_and_its_exit_status_decides(tmp_path: Path) -> None:
    from metering.watch.sinks import CommandSink

    out = tmp_path / "got.txt"
    script = "import os, sys; open(sys.argv[1], 'a').write(os.environ['WEBHOOK_ID'] + ' ' + sys.stdin.read())"
    CommandSink("cmd", (sys.executable, "-c", script, str(out))).deliver("n-1", '{"type":"x"}')
    assert out.read_text() == 'n-1 {"type":"x"}'
    failing = CommandSink("cmd", (sys.executable, "-c", "import sys; sys.exit('receiver says no')"))
    with pytest.raises(DeliveryError, match="exited 1 receiver says no"):
        failing.deliver("n-2", "{}")
    with pytest.raises(DeliveryError, match="did not run"):
        CommandSink("cmd", (str(tmp_path / "no-such-program"),)).deliver("n-3", "{}")


def test_a_stdout_sink_prints_one_json_line_with_the_id(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from metering.watch.sinks import StdoutSink

    StdoutSink("log").deliver("n-1", '{"type":"x","data":{"a":1}}')
    assert json.loads(capsys.readouterr().out) == {"id": "n-1", "type": "x", "data": {"a": 1}}


def test_a_receiver_that_hangs_costs_one_timeout_not_the_whole_queue() -> None:
    receiver = Receiver(SECRET, slow_rate=1.0, slow_seconds=3).start()  # answers after 3 s, every time
    try:
        began = time.monotonic()
        with pytest.raises(DeliveryError, match="unreachable"):
            WebhookSink("hook", receiver.url, SECRET, timeout=0.5).deliver("n-1", "{}")
        assert time.monotonic() - began < 2.5  # the sink's timeout bounds it
    finally:
        receiver.stop()


def test_a_rules_file_is_bounded_in_rules_and_sinks() -> None:
    from metering.errors import WatchConfigError

    rules = [{"name": f"r{i}", "kind": "denial"} for i in range(101)]
    with pytest.raises(WatchConfigError, match="at most 50 sinks and 100 rules"):
        parse_watch_config({"sinks": {"o": {"stdout": True}}, "rules": rules})


def test_a_copied_history_carries_the_outbox_and_the_watch_resumes_on_it(
    denials_store: tuple[Path, set[str]], copy_store: Callable[[Path], str], tmp_path: Path
) -> None:
    """``metering db copy`` (SQLite to PostgreSQL, or back) moves the watch's state too: a watch pointed at the copy
    continues from its cursor, so nothing pending is lost and nothing is queued twice."""
    from metering.audit.stores.copy import copy_history

    path, ids = denials_store
    db = copy_store(path)
    config = _config("http://127.0.0.1:9/hook")
    with Store(db) as store:
        assert Watcher(store, config.rules, name="t", confirmations=0, start_block=0).drain() == len(ids)  # type: ignore[attr-defined]
        outbox = Outbox(store)
        outbox.delivered(outbox.due(2**62, limit=1)[0], 1)
        before = store.query("SELECT id, sink, state, payload, attempts FROM outbox ORDER BY id, sink")
        cursor = outbox.cursor("t")
    origin, moved, _ = copy_history(db, tmp_path / "moved.sqlite")
    with origin, moved:
        assert moved.query("SELECT id, sink, state, payload, attempts FROM outbox ORDER BY id, sink") == before
        assert Outbox(moved).cursor("t") == cursor is not None
        assert Outbox(moved).counts() == {"pending": len(ids) - 1, "delivered": 1, "dead": 0}
        assert Watcher(moved, config.rules, name="t", confirmations=0).drain() == 0  # type: ignore[attr-defined]
