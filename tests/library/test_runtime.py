"""The interpreter settings a sync runs under (:mod:`metering._utils.runtime`): set while at least one sync runs,
restored when the last one ends, and a program's own choices left alone."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator

import pytest

from metering._utils.runtime import QUICK_SWITCH_SECONDS, sync_runtime


@pytest.fixture(autouse=True)
def defaults() -> Iterator[None]:
    interval, enabled = sys.getswitchinterval(), gc.isenabled()
    gc.unfreeze()
    sys.setswitchinterval(0.005)
    gc.enable()
    yield
    gc.unfreeze()
    sys.setswitchinterval(interval)
    (gc.enable if enabled else gc.disable)()


def test_inside_the_interval_is_short_and_old_objects_frozen_and_after_both_are_back() -> None:
    old = object.__new__(type("Old", (), {}))  # a tracked object from before
    with sync_runtime():
        assert sys.getswitchinterval() == pytest.approx(QUICK_SWITCH_SECONDS)
        assert gc.get_freeze_count() > 0
        assert not any(o is old for o in gc.get_objects())  # frozen: collections do not look at it
        young: list[object] = []
        young.append(young)  # a cycle made during the sync...
        del young
        assert gc.collect() >= 1  # ...is still collected
    assert sys.getswitchinterval() == pytest.approx(0.005)
    assert gc.get_freeze_count() == 0
    assert any(o is old for o in gc.get_objects())


def test_both_are_restored_after_an_error() -> None:
    with pytest.raises(RuntimeError), sync_runtime():
        raise RuntimeError("the sync failed")
    assert sys.getswitchinterval() == pytest.approx(0.005)
    assert gc.get_freeze_count() == 0


def test_overlapping_holders_restore_only_when_the_last_one_ends() -> None:
    # Adversary: two syncs in one process (a web view's and a watcher's) ending in the other order than they began:
    # the first to end must not restore the settings under the second, nor the second leave them set.
    first, second = sync_runtime(), sync_runtime()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(QUICK_SWITCH_SECONDS)
    assert gc.get_freeze_count() > 0
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(0.005)
    assert gc.get_freeze_count() == 0


def test_holders_in_threads_leave_the_interpreter_as_it_was() -> None:
    seen: set[float] = set()

    def hold() -> None:
        for _ in range(300):
            with sync_runtime():
                seen.add(sys.getswitchinterval())

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen and all(value == pytest.approx(QUICK_SWITCH_SECONDS) for value in seen)
    assert sys.getswitchinterval() == pytest.approx(0.005)
    assert gc.get_freeze_count() == 0


def test_a_program_s_own_choices_are_kept() -> None:
    # A shorter interval, a disabled collector, objects the program froze itself (before forking workers).
    sys.setswitchinterval(0.0001)
    shorter = sys.getswitchinterval()  # as the interpreter keeps it (whole microseconds)
    gc.disable()
    with sync_runtime():
        assert sys.getswitchinterval() == shorter
        assert gc.get_freeze_count() == 0 and not gc.isenabled()
    assert sys.getswitchinterval() == shorter and not gc.isenabled()
    gc.enable()
    kept = [object()]  # a tracked object the program froze (frozen objects may still be freed: counts move)
    gc.freeze()
    with sync_runtime():
        assert not any(o is kept for o in gc.get_objects())
    assert not any(o is kept for o in gc.get_objects())  # not unfrozen by the sync
    assert gc.get_freeze_count() > 0
