"""``metering events``: the contract's events, decoded, as an explorer would show them, in the terminal.

The events are read through the event database (the indexer's adaptive ``eth_getLogs`` ranges, resumable,
reorg-safe), so a second look costs only the new blocks, and ``--follow`` keeps indexing and prints each new event
as it comes. Values are shown for people: enums by name, currency codes as text, instance ids split into the agent
that holds them and its request id, block numbers with their ISO time where the node tells it. ``--json`` gives
every field as :func:`metering.audit.events.event_to_dict` writes it (integers as decimal text), a JSON array, or one
JSON object per line when following.
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metering.cli._common import (
    DEFAULT_RPC_URL,
    UINT16_MAX,
    ContractOpt,
    DbOpt,
    FromBlockOpt,
    JsonOpt,
    RpcUrlOpt,
    command,
    console,
    open_store,
    require_contract,
    rpc_timeout,
    sync_store,
)
from metering.errors import ConfigError

if TYPE_CHECKING:
    from metering.audit.events import MeterEvent
    from metering.audit.store import Store
    from metering.chain.lean import LeanNode

__all__ = ["describe", "event_json", "events"]

#: Fields shown in their own columns, not among the details.
_COLUMNS = {"block_number", "block_hash", "tx_hash", "log_index", "timeframe", "customer", "instance_type",
            "instance_id"}
#: Fields that hold an amount in minor units: of the event's own currency where it names one (a cap, contract v3),
#: else of its timeframe's (when unknown, the unit is named).
_MINOR = {"total", "cap"}
#: Fields that hold unix seconds: shown with their ISO time.
_TIMES = {"start", "end", "started_at", "lease_end", "stopped_at"}


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def instance_label(instance_id: bytes) -> str:
    """An instance id as the agent that holds it and its request id: ``0x7099…79C8 #1``."""
    from metering.types import split_instance_id

    agent, seat, generation = split_instance_id(instance_id)
    return f"{_short(agent)} #{seat << 8 | generation}"


def describe(event: MeterEvent, currency: str | None = None) -> str:
    """The fields of ``event`` that have no column, for people: enums by name, times with ISO, money with its
    currency (``currency``: its timeframe's, when known; else the unit is named)."""
    from metering.contract import DenialReason, InstanceStatus, LimitMode
    from metering.money import format_micro, format_minor
    from metering.timeparse import with_iso
    from metering.types import Rules

    own = getattr(event, "currency", None)
    if isinstance(own, str) and own:
        currency = own  # a cap carries its currency (v3): it is the one its amount is in

    def micro(value: int) -> str:
        return f"{format_micro(value, currency)} {currency}" if currency else f"{value} micro-units"

    parts: list[str] = []
    for f in fields(event):
        if f.name in _COLUMNS:
            continue
        value = getattr(event, f.name)
        if isinstance(value, DenialReason | InstanceStatus | LimitMode):
            shown = value.name
        elif isinstance(value, Rules):
            shown = (f"{micro(value.price_per_activation)}/start {micro(value.price_per_time_unit)}/"
                     f"{value.time_unit_seconds}s max {value.max_concurrent} running {value.mode.name}")
        elif f.name in _MINOR and isinstance(value, int):
            shown = f"{format_minor(value, currency)} {currency}" if currency else f"{value} minor units"
        elif isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, bytes):
            shown = "0x" + value.hex()
        elif f.name in _TIMES and isinstance(value, int):
            shown = with_iso(value)
        else:
            shown = str(value)
        parts.append(f"{f.name}={shown}")
    return " ".join(parts)


def event_json(event: MeterEvent, block_time: int | None, currency: str | None = None) -> dict[str, Any]:
    """The JSON of ``event`` (see :func:`metering.audit.events.event_to_dict`), its block time, its timeframe's
    ``currency`` and, for instance events, the agent that holds the instance and its request id.

    Integers are JSON numbers, as in every other ``--json`` output (the event database keeps them as text).
    """
    from metering.audit.events import event_to_dict
    from metering.timeparse import format_instant
    from metering.types import Rules, split_instance_id

    out = event_to_dict(event)
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, Rules):
            out.update({name: number for name, number in vars(value).items() if type(number) is int})
        elif type(value) is int:  # not a bool, not an enum (those stay names)
            out[f.name] = value
    out["block_time"] = block_time
    out["block_time_iso"] = None if block_time is None else format_instant(block_time)
    if hasattr(event, "timeframe"):
        out["currency"] = currency
    instance = getattr(event, "instance_id", None)
    if isinstance(instance, bytes):
        agent, seat, generation = split_instance_id(instance)
        out["agent"], out["request_id"] = agent, seat << 8 | generation
    return out


class _Times:
    """Block times for display: from the event database or the node, and none where the node will not say."""

    def __init__(self, w3: LeanNode, store: Store) -> None:
        from metering.audit.blocktime import NodeClock

        self._clock = NodeClock(w3, store)
        self._store = store
        self._currencies: dict[int, str] = {}

    def currency(self, event: MeterEvent) -> str | None:
        """The currency of the event's timeframe, from the indexed TimeframeCreated events (None: no timeframe)."""
        timeframe = getattr(event, "timeframe", None)
        if not isinstance(timeframe, int):
            return None
        if timeframe not in self._currencies:  # a new timeframe (under --follow): read them again
            from metering.audit.events import TimeframeCreated

            created = self._store.events(names=["TimeframeCreated"])
            self._currencies = {e.timeframe: e.currency for e in created if isinstance(e, TimeframeCreated)}
        return self._currencies.get(timeframe)

    def __call__(self, number: int) -> int | None:
        from metering.errors import MeteringError

        try:
            return self._clock.timestamp(number)
        except MeteringError:
            return None


def _row(event: MeterEvent, block_time: int | None, currency: str | None) -> list[str]:
    from metering.timeparse import format_instant

    instance = getattr(event, "instance_id", None)
    customer = getattr(event, "customer", None)
    kind = getattr(event, "instance_type", None)
    frame = getattr(event, "timeframe", None)
    when = "" if block_time is None else f" ({format_instant(block_time)})"
    return [
        f"{event.block_number}{when}",
        event.name,
        "" if frame is None else str(frame),
        "" if customer is None else _short(str(customer)),
        "" if kind is None else str(kind),
        instance_label(instance) if isinstance(instance, bytes) else "",
        describe(event, currency),
    ]


def _line(event: MeterEvent, block_time: int | None, currency: str | None) -> str:
    block, name, frame, customer, kind, instance, details = _row(event, block_time, currency)
    cells = [f"block {block}", name]
    cells += [f"{label} {value}" for label, value in
              (("timeframe", frame), ("customer", customer), ("type", kind), ("instance", instance)) if value]
    # the instance column is "agent #request id"; its full id is in the JSON
    return "  ".join(cells) + (f"  {details}" if details else "")


def _select(store: Store, *, customer: str | None, types: list[int], timeframe: int | None, names: list[str] | None,
            from_block: int | None, to_block: int | None) -> list[MeterEvent]:
    found = store.events(timeframe=timeframe, customer=customer, names=names, from_block=from_block,
                         to_block=to_block)
    if types:
        found = [e for e in found if getattr(e, "instance_type", None) in types]
    return found


@command
def events(
    customer: Annotated[str | None, typer.Option(help="Only this customer's events.", show_default=False)] = None,
    instance_type: Annotated[
        list[int] | None,
        typer.Option("--type", help="Only events of this instance type (repeatable).", min=0, max=UINT16_MAX,
                     show_default=False),
    ] = None,
    timeframe: Annotated[
        int | None, typer.Option(help="Only events of this timeframe.", min=0, max=UINT16_MAX, show_default=False)
    ] = None,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="Only events of this name, e.g. ActivationGranted (repeatable).",
                     show_default=False),
    ] = None,
    from_block: FromBlockOpt = None,
    to_block: Annotated[int | None, typer.Option("--to-block", min=0, help="Last block to show.",
                                                 show_default=False)] = None,
    limit: Annotated[int, typer.Option(min=0, help="Show the newest this many (0: all).")] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep watching and print new events as they come (Ctrl-C stops).",
                           metavar="")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks for new events (--follow).")] = 2.0,
    rpc_url: RpcUrlOpt = DEFAULT_RPC_URL,
    contract: ContractOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the contract's events, decoded (enums by name, currencies as text, times in ISO); --follow watches.

    Filters combine: --customer, --type, --timeframe, --event, --from-block/--to-block. The events are read
    into the event database first (like `metering index`), so looking again is quick.
    """
    from metering.audit.events import EVENT_TYPES
    from metering.chain import checksum

    names = None
    if event:
        unknown = [name for name in event if name not in EVENT_TYPES]
        if unknown:
            raise ConfigError(f"no event named {unknown[0]!r}: choose from {', '.join(EVENT_TYPES)}")
        names = list(event)
    who = checksum(customer, what="customer") if customer is not None else None
    if from_block is not None and to_block is not None and to_block < from_block:
        raise ConfigError(f"--to-block {to_block} is before --from-block {from_block}")
    if follow and to_block is not None:
        raise ConfigError("--follow watches new blocks: drop --to-block")
    if follow:  # before anything is printed: a SIGTERM from here on ends the watch quietly (exit 0)
        _stop_on_sigterm()
    from metering.chain.lean import lean_connect

    w3 = lean_connect(rpc_url, timeout=rpc_timeout())  # without web3: a read answers at once (issue 20)
    address = require_contract(contract)
    types = list(instance_type or [])
    with open_store(w3, address, db) as store:
        sync_store(w3, address, store, quiet=json_out, from_block=from_block)
        times = _Times(w3, store)
        found = _select(store, customer=who, types=types, timeframe=timeframe, names=names, from_block=from_block,
                        to_block=to_block)
        shown = found[-limit:] if limit else found
        if follow:
            try:
                _print_lines(shown, times, json_out)
            except KeyboardInterrupt:
                return
            _follow(w3, address, store, times, json_out, interval, last=store.last_block,
                    select={"customer": who, "types": types, "timeframe": timeframe, "names": names})
            return
        if json_out:
            from metering.cli._common import print_json

            print_json([event_json(e, times(e.block_number), times.currency(e)) for e in shown])
            return
        # one line per event, never folded: ids and hashes stay whole, and grep finds them
        _print_lines(shown, times, json_out=False)
        more = f" (the newest {len(shown)} of {len(found)}; --limit 0 shows all)" if len(shown) < len(found) else ""
        console.print(f"[dim]{len(shown)} event(s){more}[/]", highlight=False)


def _print_lines(found: list[MeterEvent], times: _Times, json_out: bool) -> None:
    import json

    for item in found:
        if json_out:
            typer.echo(json.dumps(event_json(item, times(item.block_number), times.currency(item)), sort_keys=True))
        else:
            console.print(_line(item, times(item.block_number), times.currency(item)), highlight=False)


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, a test) stops ``--follow`` as Ctrl-C does: quietly, exit 0."""
    import signal

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def _follow(w3: LeanNode, address: str, store: Store, times: _Times, json_out: bool, interval: float, *,
            last: int | None, select: dict[str, Any]) -> None:
    """Index and print what is new every ``interval`` seconds, until Ctrl-C (or SIGTERM) ends it quietly."""
    try:
        while True:
            time.sleep(interval)
            sync_store(w3, address, store, quiet=True)
            found = _select(store, from_block=(last or 0) + 1 if last is not None else None, to_block=None,
                            **select)
            _print_lines(found, times, json_out)
            last = store.last_block
    except KeyboardInterrupt:
        return
