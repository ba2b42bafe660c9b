"""The watch rules file: sinks (where notifications go) and rules (what to notice), in YAML or JSON.

::

    name: billing-alerts            # the watcher's cursor is kept under this name (default: the file's stem)
    confirmations: 2                # notify only about blocks this deep (default 2)
    sinks:
      ops:
        webhook: https://ops.example/hooks/metering
        secret_env: OPS_WEBHOOK_SECRET    # whsec_...; or `secret:` inline (then keep the file private)
      pager:
        command: [/usr/local/bin/page-oncall, --quiet]
      log:
        stdout: true
    rules:
      - {name: cap, kind: cap, percent: [50, 80, 100], sinks: [ops, log]}
      - {name: denials, kind: denial, sinks: [ops]}
      - {name: quota, kind: quota, of: max_activations, percent: [80, 100], sinks: [log]}
      - {name: expiring, kind: lease_expiring, minutes: 10, sinks: [pager]}
      - {name: final, kind: invoice_final, sinks: [ops]}
      - {name: anchored, kind: invoice_anchored, sinks: [ops]}

A mistake is a :class:`WatchConfigError` naming the entry, before anything is watched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metering.errors import WatchConfigError
from metering.watch.rules import Rule, make_rule
from metering.watch.sinks import CommandSink, Sink, StdoutSink, WebhookSink, check_secret

__all__ = ["WatchConfig", "load_watch_config", "parse_watch_config"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: The bound on a file's size: rules and sinks are a handful, and every rule runs on every pass.
MAX_RULES = 100
MAX_SINKS = 50


@dataclass(frozen=True)
class WatchConfig:
    name: str
    confirmations: int
    sinks: Mapping[str, Sink]
    rules: tuple[Rule, ...]


def load_watch_config(path: Path) -> WatchConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise WatchConfigError(f"cannot read the watch rules file {path}: {exc.strerror}") from None
    from metering._utils.strict_yaml import load_strict_yaml
    from metering.errors import RulesFileError

    try:
        raw = load_strict_yaml(text)
    except RulesFileError as exc:
        raise WatchConfigError(f"{path}: {exc}") from None
    try:
        return parse_watch_config(raw, default_name=path.stem)
    except WatchConfigError as exc:
        raise WatchConfigError(f"{path}: {exc}") from None


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise WatchConfigError(f"{what} {value!r} must be 1-64 letters, digits, '_', '.' or '-'")
    return value


def _sink(name: str, spec: Any) -> Sink:
    if not isinstance(spec, Mapping):
        raise WatchConfigError(f"sink {name!r} must be a mapping with webhook, command or stdout")
    kinds = [k for k in ("webhook", "command", "stdout") if k in spec]
    if len(kinds) != 1:
        raise WatchConfigError(f"sink {name!r} needs exactly one of webhook, command, stdout")
    timeout = spec.get("timeout", 10)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 120:
        raise WatchConfigError(f"sink {name!r}: timeout must be 0-120 seconds")
    if kinds[0] == "webhook":
        url = spec["webhook"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise WatchConfigError(f"sink {name!r}: webhook must be an http:// or https:// URL, got {url!r}")
        if "secret_env" in spec:
            secret = os.environ.get(str(spec["secret_env"]))
            if not secret:
                raise WatchConfigError(f"sink {name!r}: the environment variable {spec['secret_env']} is not set")
        elif "secret" in spec:
            secret = str(spec["secret"])
        else:
            raise WatchConfigError(f"sink {name!r}: a webhook needs secret_env (or secret): each endpoint signs "
                                   "with its own secret")
        return WebhookSink(name, url, check_secret(name, secret), float(timeout))
    if kinds[0] == "command":
        argv = spec["command"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise WatchConfigError(f"sink {name!r}: command must be a list of strings (no shell)")
        return CommandSink(name, tuple(argv), float(timeout))
    if spec["stdout"] is not True:
        raise WatchConfigError(f"sink {name!r}: stdout must be true")
    return StdoutSink(name)


def parse_watch_config(raw: Any, *, default_name: str = "watch") -> WatchConfig:
    if not isinstance(raw, Mapping):
        raise WatchConfigError("the watch rules file must be a mapping with sinks and rules")
    unknown = set(raw) - {"name", "confirmations", "sinks", "rules"}
    if unknown:
        raise WatchConfigError(f"unknown key(s) {', '.join(sorted(unknown))}")
    confirmations = raw.get("confirmations", 2)
    if not isinstance(confirmations, int) or isinstance(confirmations, bool) or not 0 <= confirmations <= 1000:
        raise WatchConfigError(f"confirmations must be a whole number from 0 to 1000, got {confirmations!r}")
    sinks_raw = raw.get("sinks") or {}
    rules_raw = raw.get("rules") or []
    if not isinstance(sinks_raw, Mapping) or not sinks_raw:
        raise WatchConfigError("name at least one sink under sinks:")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise WatchConfigError("list at least one rule under rules:")
    if len(sinks_raw) > MAX_SINKS or len(rules_raw) > MAX_RULES:
        raise WatchConfigError(f"at most {MAX_SINKS} sinks and {MAX_RULES} rules")
    sinks = {_name(n, "sink name"): _sink(n, spec) for n, spec in sinks_raw.items()}
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, entry in enumerate(rules_raw):
        if not isinstance(entry, Mapping) or "kind" not in entry:
            raise WatchConfigError(f"rule {i + 1} must be a mapping with a kind")
        kind = str(entry["kind"])
        name = _name(entry.get("name", kind), "rule name")
        if name in seen:
            raise WatchConfigError(f"two rules are named {name!r}: names are part of notification ids")
        seen.add(name)
        targets = entry.get("sinks", list(sinks))
        if not isinstance(targets, list) or not targets:
            raise WatchConfigError(f"rule {name!r}: sinks must be a list of sink names")
        missing = [t for t in targets if t not in sinks]
        if missing:
            raise WatchConfigError(f"rule {name!r}: unknown sink(s) {', '.join(map(str, missing))}")
        options = {k: v for k, v in entry.items() if k not in ("kind", "name", "sinks")}
        rules.append(make_rule(kind, name, tuple(str(t) for t in targets), options))
    return WatchConfig(_name(raw.get("name", default_name), "watch name"), int(confirmations), sinks, tuple(rules))
