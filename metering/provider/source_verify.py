"""Where the library's users found :func:`verify_source`: it lives in :mod:`metering.audit.source_verify` (an
auditor's check, importable without web3 so that ``metering verify-source`` answers at once, issue 20)."""

from __future__ import annotations

from metering.audit.source_verify import (
    MatchKind,
    SourceMatch,
    check_shipped_build,
    compare_runtime_code,
    verify_source,
)

__all__ = ["MatchKind", "SourceMatch", "check_shipped_build", "compare_runtime_code", "verify_source"]
