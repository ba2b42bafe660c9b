"""The demo's watch: its local receiver got, as verified webhooks, the cap crossing 80%, the denials and the final
invoices, each once and each matching the chain."""

from __future__ import annotations

import pytest

from .conftest import World

pytest.importorskip("standardwebhooks", reason="the watch needs the watch extra: pip install 'metering[watch]'")


def test_the_demo_receiver_got_the_cap_at_80_percent_a_denial_and_the_final_invoices(world: World) -> None:
    hooks = world.result.webhooks
    by_type: dict[str, list[dict[str, object]]] = {}
    for body in hooks:
        by_type.setdefault(str(body["type"]), []).append(body["data"])  # type: ignore[arg-type]
    assert any(d["percent"] == 80 for d in by_type["cap.crossed"])
    reasons = {d["reason"] for d in by_type.get("activation.denied", []) + by_type.get("renewal.denied", [])}
    assert {"spending_cap_reached", "agent_not_approved"} <= reasons
    assert len(world.result.denials) <= len(by_type.get("activation.denied", []))
    finals = {str(d["customer"]): int(str(d["total"])) for d in by_type["invoice.final"]}
    assert finals == {world.invoice(name).customer: world.invoice(name).total for name in world.result.invoices}
    assert all(str(body["timestamp"]).endswith("Z") for body in hooks)  # ISO 8601 UTC
