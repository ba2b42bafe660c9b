"""A throwaway PostgreSQL server for the tests: Debian's ``initdb`` and ``pg_ctl`` in a temporary directory.

Why a real server: the PostgreSQL store's locks, COPY, collation and snapshots are what is tested, and no fake has
them. The server listens on a free 127.0.0.1 port (and a socket in its own directory), trusts local connections
(it holds nothing but test data and lives as long as the session), and is stopped with ``pg_ctl stop``, then by
the PID in ``postmaster.pid`` if that fails. ``initdb`` refuses to run as root: as root the directory is handed to
the ``postgres`` user and the tools run through ``runuser``.

Each test gets a schema of its own (``search_path`` in the URL), created in milliseconds; dropping it drops every
table the test made.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL is not installed, so the PostgreSQL half of the store tests is skipped: "
    "apt-get install postgresql (Debian/Ubuntu; `./run test` does it when CI=true), then run the tests again"
)
_USER = "metering"
_schemas = count(1)


def server_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl`` (Debian keeps them out of PATH), or ``None``."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One running server; :meth:`new_url` gives each caller an empty schema of its own."""

    def __init__(self, bin_dir: Path) -> None:
        self._bin = bin_dir
        self._root = Path(tempfile.mkdtemp(prefix="metering-pg-"))
        self.data = self._root / "data"
        self.port = _free_port()
        self._as_root = os.geteuid() == 0

    def _tool(self, *args: str) -> list[str]:
        command = [str(self._bin / args[0]), *args[1:]]
        return ["runuser", "-u", "postgres", "--", *command] if self._as_root else command

    def start(self) -> PostgresServer:
        if self._as_root:
            shutil.chown(self._root, "postgres", "postgres")
        subprocess.run(
            self._tool("initdb", "-D", str(self.data), "-A", "trust", "-U", _USER, "--no-sync", "-E", "UTF8",
                       "--locale", "C"),
            check=True, capture_output=True, timeout=120,
        )
        options = f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            self._tool("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self._root / "log"), "-w", "start"),
            check=True, capture_output=True, timeout=120,
        )
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE metering")
        return self

    def url(self, database: str = "metering", schema: str | None = None) -> str:
        base = f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"
        return base + (f"?options=-csearch_path%3D{schema}" if schema else "")

    def new_url(self) -> str:
        """A URL whose tables land in a new, empty schema."""
        import psycopg

        schema = f"t{os.getpid()}_{next(_schemas)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        return self.url(schema=schema)

    def stop(self) -> None:
        pid_file = self.data / "postmaster.pid"
        try:
            subprocess.run(self._tool("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"),
                           capture_output=True, timeout=60, check=True)
        except (subprocess.SubprocessError, OSError):
            with contextlib.suppress(OSError, ValueError, IndexError):
                os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)
        shutil.rmtree(self._root, ignore_errors=True)


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer | str]:
    """A started server, or the reason there is none (to skip with)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        yield 'psycopg is not installed: pip install "metering[pg]" (or -r requirements/dev.lock)'
        return
    bin_dir = server_bin()
    if bin_dir is None:
        yield INSTALL_HINT
        return
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except (subprocess.SubprocessError, OSError) as exc:
        server.stop()
        detail = getattr(exc, "stderr", b"") or b""
        raise RuntimeError(f"PostgreSQL did not start: {exc} {detail.decode(errors='replace')}") from exc
    try:
        yield server
    finally:
        server.stop()
