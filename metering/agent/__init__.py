"""The platform agent's side: ask before starting an instance, renew its lease, stop it, close expired leases.

Every call returns a small frozen result decoded from the events of its receipt, so the agent acts on what the chain
decided: :class:`Granted` (start the instance, until ``lease_end`` unless renewed) or :class:`Denied` (do not, and
``reason`` says why). A business denial is never an exception: the contract records it as an event.

**Request ids and seats.** An agent's request id is ``seat << 8 | generation``: each agent owns seats on chain, a
seat holds one instance at a time, and the next request on a seat whose instance has ended uses its next
generation. The instance id is the agent's address followed by the request id, so it names the agent that holds it
and nobody else can renew or stop it. The agent picks seats for you (:class:`SeatAllocator`): it reuses the seats
of instances that ended, and reads the chain's record of a seat before it first uses it in this process. One agent
key belongs to one process at a time, as its nonces do.

**Retries are safe by construction.** ``activate`` chooses its request id once per call and keeps it across every
internal retry; the contract answers a request id it has seen with ``ActivationReplayed``, counting nothing, and
the result then carries ``replayed=True`` and the first decision. To retry *after an exception* yourself, pass the
request id again (the error message names it; :meth:`Agent.next_request_id` chooses one up front), or simply call
``activate`` again for the same customer and instance type: the agent reuses the unresolved request of that
customer, type and ``intent``, so the first decision comes back if it landed and nothing counts twice. The seat of
a request whose outcome is unknown stays reserved until a decision for it is seen. A retried ``deactivate`` that
finds its instance already closed returns how it was closed (``replayed=True``), also once a later activation
reused the seat of an expired instance.

>>> agent = Agent(w3, meter_address, signer)                   # doctest: +SKIP
>>> decision = agent.activate(customer, 1, lease_seconds=600)  # doctest: +SKIP
>>> if isinstance(decision, Granted):                          # doctest: +SKIP
...     start_instance(decision.instance_id)
>>> rid = agent.next_request_id()                              # doctest: +SKIP
>>> try:                                                       # doctest: +SKIP
...     decision = agent.activate(customer, 1, 600, request_id=rid)
... except TransactionTimeoutError:                            # it may have landed: the same id replays it
...     decision = agent.activate(customer, 1, 600, request_id=rid)

The package's modules, one job each: :mod:`.results` (what calls return), :mod:`.seats` (the request-id allocator),
:mod:`.agent` (the calls), and private helpers for decoding events, reading records and retrying sends.
"""

from __future__ import annotations

from metering._utils.client import InstanceRecord

from .agent import MAX_BATCH, Agent
from .results import (
    ActivationRequest,
    ActivationResult,
    ContinuationDenied,
    Continued,
    Deactivated,
    DeactivationResult,
    Denied,
    Expired,
    Granted,
    RenewalDenied,
    Renewed,
    RenewResult,
)
from .seats import SeatAllocator

__all__ = [
    "MAX_BATCH",
    "ActivationRequest",
    "ActivationResult",
    "Agent",
    "ContinuationDenied",
    "Continued",
    "Deactivated",
    "DeactivationResult",
    "Denied",
    "Expired",
    "Granted",
    "InstanceRecord",
    "RenewResult",
    "RenewalDenied",
    "Renewed",
    "SeatAllocator",
]
