"""A watch process for the crash test: evaluates denials into the outbox and delivers them, until killed."""

import sys

from metering.watch.config import parse_watch_config
from metering.watch.loop import WatchLoop
from metering.watch.outbox import Backoff

db, url, secret = sys.argv[1:4]
config = parse_watch_config({
    "name": "crash", "confirmations": 0,
    "sinks": {"hook": {"webhook": url, "secret": secret, "timeout": 2}},
    "rules": [{"name": "denials", "kind": "denial", "sinks": ["hook"]}],
})
print("ready", flush=True)
WatchLoop(config, db, start_block=0, interval=0.01, batch=97,
          backoff=Backoff(base=0.01, cap=0.2, attempts=10_000)).run_forever()
