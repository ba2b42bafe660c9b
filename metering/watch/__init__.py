"""Customers watch in real time: notifications derived from confirmed chain events, kept in a durable outbox in the
event store, and delivered to signed webhooks, local commands or stdout, with retries.

``metering watch RULES_FILE`` runs it on its own; ``metering serve --watch RULES_FILE`` runs it beside the web view.
Modules: :mod:`~metering.watch.rules` (what to notice, pluggable kinds), :mod:`~metering.watch.config` (the rules
file), :mod:`~metering.watch.outbox` (the tables), :mod:`~metering.watch.sinks` (where it goes),
:mod:`~metering.watch.watcher` (evaluation and delivery), :mod:`~metering.watch.loop` (the process that runs both).
"""

from __future__ import annotations

__all__: list[str] = []
