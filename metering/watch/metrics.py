"""Prometheus metrics of long-running processes that are not the web view: the watch's deliveries and the agents'
lease keepers, each served on ``127.0.0.1:PORT/metrics``.

prometheus-client is imported when a metrics object is made, never by the agent library itself: agents install
web3, eth-account and coincurve only, and a keeper without metrics works as before. Labels are bounded: sink names
(at most 50 in a rules file), notification types, outcomes, decision kinds and denial reasons; never an instance id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from metering.errors import MissingDependencyError

if TYPE_CHECKING:
    from metering.agent.keeper import KeeperEvent

__all__ = ["DeliveryMetrics", "KeeperMetrics", "serve_registry"]


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise MissingDependencyError('metrics need prometheus-client: pip install "metering[watch]"') from exc
    return prometheus_client


def serve_registry(registry: Any, port: int, host: str = "127.0.0.1") -> int:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread; returns the port (0 picks one)."""
    server, _thread = _client().start_http_server(port, addr=host, registry=registry)
    return int(server.server_address[1])


class DeliveryMetrics:
    """``metering_watch_deliveries_total{sink, type, outcome}``: what the watch sent and what failed."""

    def __init__(self, registry: Any = None) -> None:
        client = _client()
        self.registry = registry if registry is not None else client.CollectorRegistry()
        self.deliveries = client.Counter("metering_watch_deliveries", "Webhook/command/stdout delivery attempts.",
                                         ["sink", "type", "outcome"], registry=self.registry)

    def observe(self, sink: str, kind: str, ok: bool) -> None:
        self.deliveries.labels(sink, kind, "ok" if ok else "failed").inc()

    @classmethod
    def serve(cls, port: int) -> DeliveryMetrics:
        metrics = cls()
        serve_registry(metrics.registry, port)
        return metrics


class KeeperMetrics:
    """The keeper's decisions, renewals, transaction latency and errors.

    Pass :meth:`on_event` as ``LeaseKeeper(on_event=...)``; wrap sends in :meth:`timed` to measure their latency, and
    give activation results to :meth:`decision`.
    """

    def __init__(self, registry: Any = None) -> None:
        client = _client()
        self.registry = registry if registry is not None else client.CollectorRegistry()
        r = self.registry
        self.decisions = client.Counter("metering_agent_decisions", "Activation decisions seen by this agent.",
                                        ["decision", "reason"], registry=r)
        self.renewals = client.Counter("metering_keeper_renewals", "Lease renewals by outcome.", ["outcome"],
                                       registry=r)
        self.errors = client.Counter("metering_keeper_errors", "Renewals that failed with an error.", ["dropped"],
                                     registry=r)
        self.latency = client.Histogram(
            "metering_agent_tx_latency_seconds", "From sending a transaction to its receipt.", ["operation"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60), registry=r)
        self.tracked = client.Gauge("metering_keeper_tracked_leases", "Leases the keeper is renewing.", registry=r)

    def on_event(self, event: KeeperEvent) -> None:
        from metering.agent import ContinuationDenied, Continued, RenewalDenied, Renewed
        from metering.agent.keeper import KeeperError

        if isinstance(event, Renewed):
            self.renewals.labels("renewed").inc()
        elif isinstance(event, Continued):
            self.renewals.labels("continued").inc()
        elif isinstance(event, RenewalDenied | ContinuationDenied):
            self.renewals.labels("denied").inc()
            self.decisions.labels("denied", event.reason.name.lower()).inc()
        elif isinstance(event, KeeperError):
            self.errors.labels("yes" if event.dropped else "no").inc()

    def decision(self, result: Any) -> None:
        """Count an activation result (``Granted`` or ``Denied``)."""
        from metering.agent import Denied, Granted

        if isinstance(result, Granted):
            self.decisions.labels("granted", "none").inc()
        elif isinstance(result, Denied):
            self.decisions.labels("denied", result.reason.name.lower()).inc()

    @classmethod
    def serve(cls, port: int, host: str = "127.0.0.1") -> tuple[KeeperMetrics, int]:
        """Metrics of this agent process at ``http://host:port/metrics`` (0: any free port); returns them and the
        port. Loopback unless told otherwise: an agent's decisions are its customers' business."""
        metrics = cls()
        return metrics, serve_registry(metrics.registry, port, host)

    def instrument(self, agent: Any) -> Any:
        """Time ``agent``'s sends (activate, renew, deactivate) and count its activation decisions, on this one
        agent object (its class and every other agent are untouched). Returns the agent."""
        for operation in ("activate", "renew", "deactivate"):
            original = getattr(agent, operation)

            def timed_call(*args: Any, _original: Any = original, _operation: str = operation, **kwargs: Any) -> Any:
                with self.timed(_operation):
                    result = _original(*args, **kwargs)
                if _operation == "activate":
                    self.decision(result)
                return result

            setattr(agent, operation, timed_call)
        return agent

    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        """Observe how long the body (one send-and-wait) took under ``operation`` (activate, renew, ...)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.latency.labels(operation).observe(time.perf_counter() - began)
