"""Set-up survives interruption: ``tools/venv_build.py``, which ``./run`` builds its virtual environments with.

The adversary is a Ctrl-C (or a CI job killed) in the middle of the first set-up: before, it left ``.venv-brownie``
without pip and without its stamp, and every later ``./run test`` died with "No module named pip" until someone
deleted the folder by hand. Here a build is killed for real, mid-way, and the next run must recover on its own.
Each build is an empty requirements file (nothing is downloaded): what is tested is the venv and its marks.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "venv_build.py"


def _build(venv: Path, lock: Path) -> subprocess.Popen[str]:
    """The tool in a process group of its own (so a kill reaches ``venv`` and ``pip`` under it, as Ctrl-C does)."""
    return subprocess.Popen(
        [sys.executable, str(TOOL), str(venv), "--label", "test", "--requirements", str(lock), "--inputs", str(lock)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    return out


def _pip_works(venv: Path) -> bool:
    return subprocess.run([venv / "bin" / "python", "-m", "pip", "--version"], capture_output=True).returncode == 0


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "empty.lock"
    path.write_text("# nothing to install: the test is about the environment itself\n")
    return path


def test_a_build_killed_mid_way_is_detected_and_built_again(tmp_path: Path, lock: Path) -> None:
    venv = tmp_path / "venv"
    first = _build(venv, lock)
    # pyvenv.cfg is the first file `python -m venv` writes; ensurepip then takes seconds: kill the whole process
    # group there, as a Ctrl-C in the terminal would.
    wait_for(lambda: (venv / "pyvenv.cfg").exists() or first.poll() is not None, timeout=120,
             what="the venv's creation to start", interval=0.01)
    assert first.poll() is None, "the build finished before it could be interrupted"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert not (venv / ".metering-stamp").exists()
    assert (venv / ".metering-building").exists()

    out = _finish(_build(venv, lock))

    assert "left half-built" in out
    assert _pip_works(venv)
    assert (venv / ".metering-stamp").exists() and not (venv / ".metering-building").exists()


def test_a_venv_an_older_run_left_without_pip_or_stamp_is_rebuilt(tmp_path: Path, lock: Path) -> None:
    """The state of the issue: a folder with a Python and nothing else (no pip, no stamp, no building mark)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    assert not _pip_works(venv)

    out = _finish(_build(venv, lock))

    assert "left half-built" in out
    assert _pip_works(venv)


def test_a_ready_venv_is_left_alone_and_a_changed_lock_updates_it_in_place(tmp_path: Path, lock: Path) -> None:
    venv = tmp_path / "venv"
    _finish(_build(venv, lock))
    marker = venv / "kept"
    marker.write_text("a rebuild would delete this")

    assert _finish(_build(venv, lock)) == ""  # a matching stamp: nothing to do, nothing printed

    lock.write_text(lock.read_text() + "# changed\n")
    out = _finish(_build(venv, lock))
    assert "==> venv" in out and "half-built" not in out
    assert marker.exists()  # updated in place, not rebuilt


def test_the_stamp_is_what_cat_inputs_sha256sum_prints(tmp_path: Path, lock: Path) -> None:
    """Stamps written by earlier ``./run`` versions (``cat INPUTS | sha256sum``) stay valid: no needless rebuild."""
    other = tmp_path / "pyproject.toml"
    other.write_text("[project]\n")
    shell = subprocess.run(f"cat {lock} {other} | sha256sum", shell=True, capture_output=True, text=True, check=True)
    spec = importlib.util.spec_from_file_location("venv_build", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.digest([lock, other]) == shell.stdout.split()[0]
