#!/usr/bin/env python3
"""Build (or check) one of the checkout's virtual environments so that an interruption never leaves a broken one.

``./run`` keeps three: ``.venv`` (dev), ``.venv-brownie`` and ``.venv-slither``. A virtual environment cannot be
built elsewhere and moved into place (its scripts and ``pyvenv.cfg`` name their own absolute path), so it is built
where it lives, between two marks:

- ``.metering-building`` is written before anything else and removed last: found at the start of a run, it means
  the previous build was interrupted (Ctrl-C, a killed CI job), and the folder is deleted and built again from
  scratch;
- ``.metering-stamp`` holds the hash of the inputs (the lock file, ``pyproject.toml``) and is written, atomically,
  only once everything is installed: a matching stamp (and no building mark) means there is nothing to do.

A folder without either mark that cannot run ``python -m pip`` (what an interrupted build of an older ``./run``
left: no pip, no stamp) is rebuilt too. A folder that works but whose stamp is stale (the lock changed) is updated
in place, which is much faster than a rebuild.

Usage: ``venv_build.py DIR --label TEXT --requirements LOCK [--editable PATH] --inputs FILE...``; exit status 0
when the environment is ready. Standard library only: it runs with the system Python, before any venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["BUILDING", "STAMP", "digest", "ensure_venv", "main"]

BUILDING = ".metering-building"
STAMP = ".metering-stamp"

_PIP = ("-m", "pip", "install", "--quiet", "--disable-pip-version-check")


def digest(inputs: list[Path]) -> str:
    """SHA-256 of the inputs' bytes one after the other: what ``cat INPUTS | sha256sum`` prints (the stamps of
    earlier ``./run`` versions stay valid)."""
    hashed = hashlib.sha256()
    for path in inputs:
        hashed.update(path.read_bytes())
    return hashed.hexdigest()


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _has_pip(venv: Path) -> bool:
    if not _python(venv).is_file():
        return False
    probe = subprocess.run([_python(venv), "-m", "pip", "--version"], capture_output=True, check=False)
    return probe.returncode == 0


def _stamp_matches(venv: Path, want: str) -> bool:
    try:
        return (venv / STAMP).read_text(encoding="ascii").strip() == want
    except OSError:
        return False


def ensure_venv(
    venv: Path, *, inputs: list[Path], requirements: Path, editable: Path | None = None, label: str = "",
    python: str = sys.executable,
) -> bool:
    """Make ``venv`` hold ``requirements`` (and ``editable``), built for ``inputs``; True when anything was done.

    :raises subprocess.CalledProcessError: ``venv`` or ``pip`` failed (the building mark stays, so the next run
        starts over).
    """
    want = digest(inputs)
    if _stamp_matches(venv, want) and not (venv / BUILDING).exists():
        return False
    print(f"==> {venv.name}{f' ({label})' if label else ''}", flush=True)
    if venv.exists() and ((venv / BUILDING).exists() or not _has_pip(venv)):
        print(f"    {venv.name} was left half-built (an interrupted set-up?): building it again from scratch",
              flush=True)
        shutil.rmtree(venv)
    venv.mkdir(parents=True, exist_ok=True)
    (venv / BUILDING).write_text("a build is under way, or was interrupted: the next run rebuilds this folder\n")
    (venv / STAMP).unlink(missing_ok=True)
    if not _python(venv).is_file():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run([_python(venv), *_PIP, "-r", str(requirements)], check=True)
    if editable is not None:
        subprocess.run([_python(venv), *_PIP, "--no-deps", "-e", str(editable)], check=True)
    partial = venv / f"{STAMP}.partial"
    partial.write_text(want + "\n", encoding="ascii")
    os.replace(partial, venv / STAMP)
    (venv / BUILDING).unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("venv", type=Path)
    parser.add_argument("--label", default="")
    parser.add_argument("--requirements", type=Path, required=True)
    parser.add_argument("--editable", type=Path)
    parser.add_argument("--inputs", type=Path, nargs="+", required=True)
    args = parser.parse_args(argv)
    try:
        ensure_venv(args.venv, inputs=args.inputs, requirements=args.requirements, editable=args.editable,
                    label=args.label)
    except subprocess.CalledProcessError as exc:
        print(f"error: building {args.venv} failed ({exc}); run the command again to start over", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
