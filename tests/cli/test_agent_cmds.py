"""Agent commands: activate (granted, denied, replayed), renew, deactivate, expire, and the usage counters."""

from __future__ import annotations

import os

import pytest

from .helpers import DB, WEB, Cli, Market, as_json, clean, denied, fails, flat, key_hex, ok, plain, setup_market


def _activate(cli: Cli, customer: str, kind: int = DB, *args: str) -> dict[str, object]:
    data: dict[str, object] = as_json(ok(cli.as_agent("activate", "--customer", customer, "--type", str(kind),
                                                      "--json", *args)))
    return data


# ---------------------------------------------------------------------------------------------------- activate


def test_activate_granted(cli: Cli, market: Market) -> None:
    out = flat(ok(cli.as_agent("activate", "--customer", market.customer, "--type", "1")).stdout)
    assert out.startswith("granted instance 0x")
    assert "overage" not in out
    assert "replayed" not in out

    data = _activate(cli, market.customer, DB, "--lease", "120")
    assert set(data) == {"result", "instance_id", "customer", "instance_type", "timeframe", "started_at",
                         "lease_end", "overage", "tx_hash", "replayed"}
    assert data["result"] == "Granted"
    assert (data["customer"], data["instance_type"], data["timeframe"]) == (market.customer, DB, market.timeframe)
    assert data["lease_end"] == int(str(data["started_at"])) + 120
    assert (data["overage"], data["replayed"]) == (False, False)
    assert len(str(data["instance_id"])) == 66


def test_activate_denied_exits_6_with_the_reason(cli: Cli, market: Market) -> None:
    stranger = cli.actors.customers[3].address
    out = denied(cli.as_agent("activate", "--customer", stranger, "--type", "1"), "CUSTOMER_NOT_ENROLLED")
    assert out.startswith("denied request 0x")

    result = cli.as_agent("activate", "--customer", stranger, "--type", "1", "--json")
    data = as_json(result)
    denied(result, '"CUSTOMER_NOT_ENROLLED"')  # the reason by name, not its number
    assert (data["result"], data["reason"], data["replayed"]) == ("Denied", "CUSTOMER_NOT_ENROLLED", False)

    denied(cli.as_agent("activate", "--customer", market.customer, "--type", "9"), "NO_RULES_FOR_TYPE")


def test_activate_denied_by_the_hard_concurrency_limit(cli: Cli, market: Market) -> None:
    for _ in range(3):  # db-server: max_concurrent 3, hard
        _activate(cli, market.customer)
    denied(cli.as_agent("activate", "--customer", market.customer, "--type", "1"), "CONCURRENCY_LIMIT_REACHED")
    _activate(cli, market.customer2)  # the limit is per customer


def test_activate_beyond_a_soft_limit_is_an_overage_grant(cli: Cli) -> None:
    market = setup_market(cli, rules={"max_concurrent: 10": "max_concurrent: 1"})
    assert _activate(cli, market.customer, WEB)["overage"] is False
    out = flat(ok(cli.as_agent("activate", "--customer", market.customer, "--type", "2")).stdout)
    assert out.startswith("granted instance 0x")
    assert "(overage)" in out


def test_activate_retry_with_the_same_request_id_is_replayed(cli: Cli, market: Market) -> None:
    rid = "0x" + os.urandom(32).hex()
    first = _activate(cli, market.customer, DB, "--request-id", rid)
    assert first["instance_id"] == rid
    again = _activate(cli, market.customer, DB, "--request-id", rid)
    assert again["replayed"] is True
    assert (again["instance_id"], again["lease_end"], again["started_at"]) == (
        first["instance_id"], first["lease_end"], first["started_at"])
    out = flat(ok(cli.as_agent("activate", "--customer", market.customer, "--type", "1", "--request-id",
                               rid.removeprefix("0x"))).stdout)
    assert "(replayed: first decision)" in out
    usage = as_json(ok(cli("usage", "--customer", market.customer, "--timeframe", str(market.timeframe),
                           "--type", "1", "--json")))
    assert usage[0]["activations"] == 1  # counted once

    stranger = cli.actors.customers[3].address
    rid2 = "0x" + os.urandom(32).hex()
    denied(cli.as_agent("activate", "--customer", stranger, "--type", "1", "--request-id", rid2),
           "CUSTOMER_NOT_ENROLLED")
    out = denied(cli.as_agent("activate", "--customer", stranger, "--type", "1", "--request-id", rid2),
                 "CUSTOMER_NOT_ENROLLED")
    assert "replayed" in out


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--request-id", "zz"], ["request id", "hex"]),
        (["--request-id", "0x1234"], ["request id must be 32 bytes"]),
        (["--lease", "0"], ["lease must be"]),
        (["--customer", "acme"], ["not an address: acme"]),
    ],
    ids=["request-id-not-hex", "request-id-short", "lease-zero", "customer"],
)
def test_activate_bad_input(cli: Cli, market: Market, args: list[str], fragments: list[str]) -> None:
    base = {"--customer": market.customer, "--type": "1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    fails(cli.as_agent("activate", *[x for kv in base.items() for x in kv]), 3, *fragments)


def test_activate_before_any_timeframe_is_denied(cli: Cli) -> None:
    market = setup_market(cli, start_now=False)
    denied(cli.as_agent("activate", "--customer", market.customer, "--type", "1"), "NO_ACTIVE_TIMEFRAME")


# ---------------------------------------------------------------------------------------------------- renew


def test_renew(cli: Cli, market: Market) -> None:
    instance = str(_activate(cli, market.customer, DB, "--lease", "60")["instance_id"])
    cli.chain.advance(30)
    out = flat(ok(cli.as_agent("renew", instance, "--lease", "600")).stdout)
    assert out.startswith("renewed until ")
    data = as_json(ok(cli.as_agent("renew", instance, "--lease", "900", "--json")))
    assert data["result"] == "Renewed"
    assert data["instance_id"] == instance
    assert data["lease_end"] == cli.chain.now() + 900
    capped = as_json(ok(cli.as_agent("renew", instance, "--lease", "100000", "--json")))
    assert capped["lease_end"] == market.end  # capped at the timeframe's end


def test_renew_denied_for_a_suspended_customer(cli: Cli, market: Market) -> None:
    instance = str(_activate(cli, market.customer)["instance_id"])
    ok(cli("customer", "suspend", market.customer))
    out = denied(cli.as_agent("renew", instance), "CUSTOMER_SUSPENDED")
    assert out.startswith("renewal denied")
    result = cli.as_agent("renew", instance, "--json")
    denied(result, '"CUSTOMER_SUSPENDED"')
    data = as_json(result)
    assert (data["result"], data["instance_id"]) == ("RenewalDenied", instance)


def test_renew_bad_input(cli: Cli, market: Market) -> None:
    fails(cli.as_agent("renew", "0x1234"), 3, "instance id must be 32 bytes")
    fails(cli.as_agent("renew", "not-hex"), 3, "instance id must be 32 bytes of hex")
    instance = str(_activate(cli, market.customer)["instance_id"])
    fails(cli.as_agent("renew", instance, "--lease", "-5"), 3, "lease must be")
    fails(cli.as_agent("renew", "0x" + "11" * 32), 5, "MeteringInstanceNotOpen", "UNKNOWN")


# ---------------------------------------------------------------------------------------------------- deactivate


def test_deactivate(cli: Cli, market: Market) -> None:
    first = str(_activate(cli, market.customer)["instance_id"])
    second = str(_activate(cli, market.customer)["instance_id"])
    cli.chain.advance(100)
    out = flat(ok(cli.as_agent("deactivate", first)).stdout)
    assert out.startswith("deactivated at ")
    data = as_json(ok(cli.as_agent("deactivate", second, "--json")))
    assert (data["result"], data["instance_id"], data["replayed"]) == ("Deactivated", second, False)
    assert data["stopped_at"] == cli.chain.now()
    fails(cli.as_agent("deactivate", first), 5, "MeteringInstanceNotOpen", "CLOSED")


def test_deactivate_after_the_lease_ran_out_closes_it_as_expired(cli: Cli, market: Market) -> None:
    granted = _activate(cli, market.customer, DB, "--lease", "60")
    cli.chain.advance(200)
    data = as_json(ok(cli.as_agent("deactivate", str(granted["instance_id"]), "--json")))
    assert data["result"] == "Expired"
    assert data["lease_end"] == granted["lease_end"]


def test_deactivate_bad_input(cli: Cli, market: Market) -> None:
    fails(cli.as_agent("deactivate", "0x"), 3, "instance id must be 32 bytes")
    fails(cli.as_agent("deactivate", "0x" + "22" * 32), 5, "MeteringInstanceNotOpen")


# ---------------------------------------------------------------------------------------------------- expire


def test_expire(cli: Cli, market: Market) -> None:
    short = str(_activate(cli, market.customer, DB, "--lease", "60")["instance_id"])
    long = str(_activate(cli, market.customer, DB, "--lease", "3000")["instance_id"])
    cli.chain.advance(120)
    # anyone may expire leases: the outsider holds no role
    outsider = key_hex(cli.actors.outsider)
    assert plain(ok(cli("expire", short, long, METERING_PRIVATE_KEY=outsider)).stdout).strip() == (
        "closed 1 of 2 instance(s)")
    assert as_json(ok(cli("expire", short, long, "--json", METERING_PRIVATE_KEY=outsider))) == {
        "closed": 0, "given": 2}
    usage = as_json(ok(cli("usage", "--customer", market.customer, "--timeframe", str(market.timeframe),
                           "--type", "1", "--json")))
    assert usage[0]["active"] == 1


def test_expire_bad_input(cli: Cli, market: Market) -> None:
    fails(cli("expire", "0x" + "11" * 32, "xyz"), 3, "instance id must be 32 bytes of hex")
    result = cli("expire")
    assert result.exit_code == 2
    assert "Missing argument" in plain(result.stderr)


# ---------------------------------------------------------------------------------------------------- usage


def test_usage_counters(cli: Cli, market: Market) -> None:
    first = _activate(cli, market.customer, DB, "--lease", "600")
    _activate(cli, market.customer, DB, "--lease", "300")
    _activate(cli, market.customer, WEB, "--lease", "60")
    cli.chain.advance(100)
    stopped = as_json(ok(cli.as_agent("deactivate", str(first["instance_id"]), "--json")))
    ran = int(stopped["stopped_at"]) - int(str(first["started_at"]))
    assert ran >= 100
    args = ["usage", "--customer", market.customer, "--timeframe", str(market.timeframe), "--type", "1",
            "--type", "2", "--type", "3"]
    rows = as_json(ok(cli(*args, "--json")))
    assert [r["instance_type"] for r in rows] == [1, 2, 3]
    db, web, none = rows
    assert (db["active"], db["activations"], db["overage_activations"]) == (1, 2, 0)
    assert db["leased_seconds"] == 300 + ran  # the deactivated one counts the seconds it ran, not its lease
    assert (web["active"], web["activations"], web["leased_seconds"]) == (1, 1, 60)
    assert none == {"instance_type": 3, "active": 0, "activations": 0, "overage_activations": 0,
                    "leased_seconds": 0}
    table = flat(ok(cli(*args)).stdout)
    assert f"usage of {market.customer} in timeframe {market.timeframe}" in table


def test_usage_bad_input(cli: Cli, market: Market) -> None:
    fails(cli("usage", "--customer", "me", "--timeframe", "1", "--type", "1"), 3, "not an address: me")
    for timeframe, kind in (("one", "1"), ("-1", "1"), ("1", "-1"), ("1", "65536")):
        result = cli("usage", "--customer", market.customer, "--timeframe", timeframe, "--type", kind)
        assert result.exit_code == 2, result.output
        clean(result)
        assert "Invalid value for '--timeframe'" in plain(result.stderr) or "Invalid value for '--type'" in plain(
            result.stderr)
