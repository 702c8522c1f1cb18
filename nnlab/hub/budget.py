"""How many pub/sub emits one kernel sends: a token bucket, and coalescing beyond it.

A kernel training thousands of tiny epochs a second must not drown the class's Redis and
hubs. :class:`EmitBudget` lets ``rate`` emits a second through (``burst`` at once); beyond
that a run's ``training_update`` and ``training_diagnostics`` wait, the newest replacing
the older (counted as ``coalesced``), and go out when the budget allows. Statuses always go,
after what their run holds, so a client never sees an update after its run ended. (The
run's stream gets every event regardless: this is only about the live emits.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nnlab.events import DIAGNOSTICS_EVENT, UPDATE_EVENT

__all__ = ["COALESCED", "EMIT_BURST", "EMIT_RATE", "EmitBudget", "TokenBucket"]

#: Pub/sub emits a kernel may send per second, and at once.
EMIT_RATE = 100.0
EMIT_BURST = 200
#: The events whose emits may be coalesced when over budget, in the order a run sends them.
COALESCED = (UPDATE_EVENT, DIAGNOSTICS_EVENT)

Payload = dict[str, Any]


class TokenBucket:
    """At most ``rate`` tokens a second, ``burst`` at once.

    >>> bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: 0.0)
    >>> bucket.take(), bucket.take(), bucket.take()
    (True, True, False)
    >>> bucket.take(force=True), bucket.tokens
    (True, -1.0)
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self, *, force: bool = False) -> bool:
        """Spend a token if there is one (``force``: spend it anyway, into debt)."""
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0 or force:
            self.tokens -= 1.0
            return True
        return False


class EmitBudget:
    """Calls ``send(event, payload)`` within the budget; see the module docstring.

    >>> sent = []
    >>> budget = EmitBudget(lambda e, p: sent.append((e, p["epoch"])), rate=1.0, burst=1, clock=lambda: 0.0)
    >>> for epoch in (1, 2, 3):
    ...     budget.emit("j", "training_update", {"epoch": epoch})
    >>> sent, budget.coalesced, budget.held
    ([('training_update', 1)], 1, 1)
    >>> budget.emit("j", "training_status", {"epoch": 3})
    >>> sent, budget.held
    ([('training_update', 1), ('training_update', 3), ('training_status', 3)], 0)
    """

    def __init__(
        self,
        send: Callable[[str, Payload], None],
        *,
        rate: float = EMIT_RATE,
        burst: int = EMIT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self.bucket = TokenBucket(rate, burst, clock)
        self._held: dict[str, dict[str, Payload]] = {}  # job id -> event -> newest payload
        #: Emits left out: replaced by a newer one of their run while over budget.
        self.coalesced = 0

    @property
    def held(self) -> int:
        """Emits waiting for budget."""
        return sum(len(held) for held in self._held.values())

    def emit(self, job_id: str, event: str, payload: Payload) -> None:
        """Send now, or hold it (an update or diagnostics over budget)."""
        if event not in COALESCED:  # statuses always go, after what their run holds
            self._release_run(job_id)
            self._forced(event, payload)
            return
        held = self._held.get(job_id)
        if held is None and self.bucket.take():
            self._send(event, payload)
            return
        held = self._held.setdefault(job_id, {})
        if event == UPDATE_EVENT:
            self.coalesced += len(held)  # an older update, and its diagnostics
            held.clear()
        elif event in held:
            self.coalesced += 1
        held[event] = payload

    def release(self, *, force: bool = False) -> None:
        """Send what waits while the budget allows, a run at a time (all of it: ``force``)."""
        while self._held:
            job_id = next(iter(self._held))
            if force:
                self._release_run(job_id)
                continue
            if not self.bucket.take():
                return
            (event, payload), *rest = _ordered(self._held.pop(job_id))
            self._send(event, payload)
            if rest:
                self._held[job_id] = dict(rest)  # to the back of the line

    def _release_run(self, job_id: str) -> None:
        for event, payload in _ordered(self._held.pop(job_id, {})):
            self._forced(event, payload)

    def _forced(self, event: str, payload: Payload) -> None:
        self.bucket.take(force=True)
        self._send(event, payload)


def _ordered(held: dict[str, Payload]) -> list[tuple[str, Payload]]:
    return [(event, held[event]) for event in COALESCED if event in held]
