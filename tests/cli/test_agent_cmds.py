"""Agent commands: activate (granted, denied, replayed), renew, deactivate, expire, and the usage counters."""

from __future__ import annotations

from dataclasses import replace

import pytest

from metering.types import instance_id, request_id

from .helpers import (
    DB,
    MARKET_RULES,
    WEB,
    Cli,
    Market,
    as_json,
    clean,
    denied,
    fails,
    flat,
    key_hex,
    ok,
    plain,
    sent_hashes,
    setup_market,
)


def _usage(cli: Cli, market: Market, *kinds: int) -> list[dict[str, object]]:
    types = [x for kind in kinds for x in ("--type", str(kind))]
    rows: list[dict[str, object]] = as_json(ok(cli("usage", "--customer", market.customer, "--timeframe",
                                                   str(market.timeframe), *types, "--json")))
    return rows


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

    assert "(request id 1)" in out  # seat 0, generation 1

    data = _activate(cli, market.customer, DB, "--lease", "120")
    assert set(data) == {"result", "instance_id", "request_id", "customer", "instance_type", "timeframe",
                         "started_at", "lease_end", "overage", "tx_hash", "replayed"}
    assert data["result"] == "Granted"
    assert data["request_id"] == request_id(1, 1)  # a new process reads its seats from the chain: seat 0 is busy
    assert data["instance_id"] == "0x" + instance_id(cli.actors.agent.address, request_id(1, 1)).hex()
    assert (data["customer"], data["instance_type"], data["timeframe"]) == (market.customer, DB, market.timeframe)
    assert data["lease_end"] == int(str(data["started_at"])) + 120
    assert (data["overage"], data["replayed"]) == (False, False)
    assert len(str(data["instance_id"])) == 66


def test_activate_denied_exits_6_with_the_reason(cli: Cli, market: Market) -> None:
    stranger = cli.actors.customers[3].address
    out = denied(cli.as_agent("activate", "--customer", stranger, "--type", "1"), "CUSTOMER_NOT_ENROLLED")
    assert out.startswith("denied request 1 (0x")

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
    market = setup_market(cli, rules={WEB: replace(MARKET_RULES[WEB], max_concurrent=1)})
    assert _activate(cli, market.customer, WEB)["overage"] is False
    out = flat(ok(cli.as_agent("activate", "--customer", market.customer, "--type", "2")).stdout)
    assert out.startswith("granted instance 0x")
    assert "(overage)" in out


def test_activate_retry_with_the_same_request_id_is_replayed(cli: Cli, market: Market) -> None:
    first = _activate(cli, market.customer, DB)
    rid = str(first["request_id"])
    again = _activate(cli, market.customer, DB, "--request-id", rid)
    assert again["replayed"] is True
    assert (again["instance_id"], again["lease_end"], again["started_at"]) == (
        first["instance_id"], first["lease_end"], first["started_at"])
    out = flat(ok(cli.as_agent("activate", "--customer", market.customer, "--type", "1", "--request-id", rid)).stdout)
    assert "(replayed: first decision)" in out
    assert _usage(cli, market, DB)[0]["activations"] == 1  # counted once

    stranger = cli.actors.customers[3].address
    rid2 = str(request_id(7, 1))
    denied(cli.as_agent("activate", "--customer", stranger, "--type", "1", "--request-id", rid2),
           "CUSTOMER_NOT_ENROLLED")
    out = denied(cli.as_agent("activate", "--customer", stranger, "--type", "1", "--request-id", rid2),
                 "CUSTOMER_NOT_ENROLLED")
    assert "replayed" in out


def test_activate_with_a_request_id_of_another_request_is_refused(cli: Cli, market: Market) -> None:
    first = _activate(cli, market.customer, DB)
    fails(cli.as_agent("activate", "--customer", market.customer2, "--type", "1", "--request-id",
                       str(first["request_id"])), 5, "MeteringRequestMismatch")
    fails(cli.as_agent("activate", "--customer", market.customer, "--type", "1", "--request-id",
                       str(request_id(5, 3))), 5, "MeteringUnexpectedGeneration")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--request-id", "256"], ["request id 256 has generation 0"]),
        (["--lease", "0"], ["lease must be"]),
        (["--lease", str(2**32)], ["lease must be"]),
        (["--customer", "acme"], ["not an address: acme"]),
        (["--type", "70000"], ["instance type"]),
    ],
    ids=["request-id-generation-0", "lease-zero", "lease-too-long", "customer", "type"],
)
def test_activate_bad_input(cli: Cli, market: Market, args: list[str], fragments: list[str]) -> None:
    base = {"--customer": market.customer, "--type": "1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    fails(cli.as_agent("activate", *[x for kv in base.items() for x in kv]), 3, *fragments)


@pytest.mark.parametrize("rid", ["zz", "0x1234", "-1", str(2**64)])
def test_activate_request_id_that_is_no_integer_is_a_usage_error(cli: Cli, market: Market, rid: str) -> None:
    result = cli.as_agent("activate", "--customer", market.customer, "--type", "1", "--request-id", rid)
    assert result.exit_code == 2, result.output
    clean(result)
    assert "--request-id" in plain(result.stderr)


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


def test_leases_are_written_as_durations(cli: Cli, market: Market) -> None:
    granted = _activate(cli, market.customer, DB, "--lease", "10m")
    assert granted["lease_end"] - granted["started_at"] == 600
    renewed = as_json(ok(cli.as_agent("renew", str(granted["instance_id"]), "--lease", "1h", "--json")))
    # an hour from the renewal, unless the timeframe ends first (a lease never crosses it)
    assert renewed["lease_end"] >= min(granted["started_at"] + 3600, market.end)
    assert renewed["lease_end"] > granted["lease_end"]


def test_renew_bad_input(cli: Cli, market: Market) -> None:
    fails(cli.as_agent("renew", "0x1234"), 3, "instance id must be 32 bytes")
    fails(cli.as_agent("renew", "not-hex"), 3, "instance id must be 32 bytes of hex")
    instance = str(_activate(cli, market.customer)["instance_id"])
    fails(cli.as_agent("renew", instance, "--lease", "-5"), 3, "--lease '-5' is not a duration")
    fails(cli.as_agent("renew", instance, "--lease", "0"), 3, "lease must be")
    fails(cli.as_agent("renew", "0x" + "11" * 32), 3, "not an instance id", "bytes 20-23 must be zero")
    unknown = "0x" + instance_id(cli.actors.agent.address, request_id(9, 1)).hex()
    fails(cli.as_agent("renew", unknown), 5, "MeteringInstanceNotOpen", "UNKNOWN")


def test_renew_or_deactivate_another_agents_instance_is_refused(cli: Cli, market: Market) -> None:
    instance = str(_activate(cli, market.customer)["instance_id"])
    other = key_hex(cli.actors.agent2)
    ok(cli("agent", "grant", cli.actors.agent2.address))
    fails(cli("renew", instance, METERING_PRIVATE_KEY=other), 5, "MeteringNotInstanceHolder",
          "only the agent that requested it")
    fails(cli("deactivate", instance, METERING_PRIVATE_KEY=other), 5, "MeteringNotInstanceHolder")


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
    # deactivating again (a retry after a lost answer) reports the first closure, and changes nothing
    again = as_json(ok(cli.as_agent("deactivate", second, "--json")))
    assert (again["replayed"], again["stopped_at"], again["tx_hash"]) == (True, data["stopped_at"], data["tx_hash"])


def test_deactivate_after_the_lease_ran_out_closes_it_as_expired(cli: Cli, market: Market) -> None:
    granted = _activate(cli, market.customer, DB, "--lease", "60")
    cli.chain.advance(200)
    data = as_json(ok(cli.as_agent("deactivate", str(granted["instance_id"]), "--json")))
    assert data["result"] == "Expired"
    assert data["lease_end"] == granted["lease_end"]


def test_deactivate_bad_input(cli: Cli, market: Market) -> None:
    fails(cli.as_agent("deactivate", "0x"), 3, "instance id must be 32 bytes")
    fails(cli.as_agent("deactivate", "0x" + "22" * 32), 3, "not an instance id")
    unknown = "0x" + instance_id(cli.actors.agent.address, request_id(9, 1)).hex()
    fails(cli.as_agent("deactivate", unknown), 5, "MeteringInstanceNotOpen", "UNKNOWN")


# ---------------------------------------------------------------------------------------------------- expire


def test_expire(cli: Cli, market: Market) -> None:
    short = str(_activate(cli, market.customer, DB, "--lease", "60")["instance_id"])
    long = str(_activate(cli, market.customer, DB, "--lease", "3000")["instance_id"])
    cli.chain.advance(120)
    # anyone may expire leases: the outsider holds no role
    outsider = key_hex(cli.actors.outsider)
    first = ok(cli("expire", short, long, METERING_PRIVATE_KEY=outsider))
    lines = plain(first.stdout).strip().splitlines()
    assert lines[0].startswith(f"skipped {long}: lease runs until ") and lines[1] == "closed 1 of 2 instance(s)"
    assert len(sent_hashes(first.stderr)) == 1
    # nothing left to expire: nothing is sent, so no gas is spent (the "expire of a closed instance")
    again = ok(cli("expire", short, long, "--json", METERING_PRIVATE_KEY=outsider))
    assert sent_hashes(again.stderr) == []
    data = as_json(again)
    assert (data["closed"], data["given"]) == (0, 2)
    assert data["skipped"][0] == {"instance_id": short, "why": "closed, not open"}
    assert data["skipped"][1]["why"].startswith("lease runs until ")
    assert _usage(cli, market, DB)[0]["running"] == 1


def test_expire_bad_input(cli: Cli, market: Market) -> None:
    fails(cli("expire", "0x" + "11" * 32), 3, "not an instance id")
    fails(cli("expire", "0x" + "00" * 32, "xyz"), 3, "instance id must be 32 bytes of hex")
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
    assert (db["running"], db["activations"], db["overage_activations"]) == (1, 2, 0)
    assert db["leased_seconds"] == 300 + ran  # the deactivated one counts the seconds it ran, not its lease
    assert (web["activations"], web["leased_seconds"]) == (1, 60)
    assert web["running"] == 0  # its 60 s lease ran out during the 100 s
    assert none == {"instance_type": 3, "running": 0, "activations": 0, "overage_activations": 0,
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
