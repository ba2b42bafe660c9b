"""The auditor's web view (``metering serve``): usage, invoices and their proofs, served from the event database.

Needs the ``web`` extra (Starlette, Jinja2, uvicorn). See :mod:`metering.web.app`.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from metering.web.app import create_app

        return create_app
    raise AttributeError(name)
