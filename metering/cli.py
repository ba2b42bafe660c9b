"""The ``metering`` command line (being built: see the library and CLI issue)."""

from __future__ import annotations

import sys


def main() -> None:
    print("demo not built yet", file=sys.stderr)
    raise SystemExit(1)
