"""The exit codes of the ``metering`` CLI, in a module of their own so the root command reads them for free."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    """Exit codes of the ``metering`` CLI (documented in the README)."""

    OK = 0
    DIFFERENCES = 1  # verify found differences
    USAGE = 2  # bad command line (unknown option, missing argument)
    INPUT = 3  # bad input: address, rules file, invoice file, key, password, database
    UNREACHABLE = 4  # no node at the RPC URL, or a local node could not start
    TX_FAILED = 5  # a transaction reverted or could not be sent (e.g. insufficient funds)
    DENIED = 6  # the contract denied the activation or renewal (recorded on chain)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)
