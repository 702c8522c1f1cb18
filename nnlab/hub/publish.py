"""The kernel side of the classroom hub: every run of this process, published to Redis.

:class:`Publisher` watches every run of the process (``nnlab.connect`` adds it to the
registry). In the training thread it only appends each event to a ``deque``; its own thread
takes them from there and, event by event,

1. writes it with :data:`~nnlab.hub.keys.APPEND` to the run's stream and the class's hashes
   (many events per round trip), with an entry id derived from the epoch;
2. once written, emits it to the dashboards of the class through python-socketio's
   write-only ``RedisManager`` (``training_update`` exactly as the contract says). At most
   ``emit_rate`` emits a second (``emit_burst`` at once): beyond that a run's updates and
   diagnostics wait, coalesced (the newest goes out when the budget allows); statuses always
   go, and the stream gets every event regardless;
3. renews the kernel's heartbeat key (``heartbeat`` seconds, expiring after three).

A second thread listens on the kernel's control channel and asks the registry's jobs to
cancel, pause, resume or take a new learning rate (at their next mini-batch).

While Redis is down training goes on untouched: one :class:`HubWarning`, the events wait
here (up to ``buffer``; beyond that the oldest are dropped and counted) and are written, then
emitted, in order once Redis is back (``APPEND`` refuses what it has already, so writing
again is safe).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import threading
import time
import warnings
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nnlab.events import DIAGNOSTICS_EVENT, FINISHED, STATUS_EVENT, UPDATE_EVENT
from nnlab.hub._redis import import_redis, redacted, sync_client
from nnlab.hub.keys import APPEND, CHANNEL, HUB_MARK, Keys, append_args, dumps
from nnlab.identity import identity, kernel_id
from nnlab.observers import Observer
from nnlab.registry import Registry, registry

if TYPE_CHECKING:
    from nnlab.events import EpochRecord
    from nnlab.training import TrainingJob

__all__ = [
    "BUFFER_LIMIT",
    "EMIT_BURST",
    "EMIT_RATE",
    "HEARTBEAT",
    "HubWarning",
    "Publisher",
    "TokenBucket",
]

logger = logging.getLogger("nnlab.hub")

#: Events kept while Redis is down (beyond that the oldest are dropped, and counted).
BUFFER_LIMIT = 20_000
#: Most events written in one round trip.
BATCH = 500
#: Pub/sub emits a kernel may send per second, and at once.
EMIT_RATE = 100.0
EMIT_BURST = 200
#: Seconds between two heartbeats (the key expires after three).
HEARTBEAT = 5.0
#: Seconds between two looks at the queue (the training thread wakes no one).
TICK = 0.02
#: Seconds to wait before trying a Redis that failed again: the first, and the longest.
RETRY_FIRST, RETRY_MAX = 0.1, 2.0
#: The events whose emits may be coalesced when over budget, in the order a run sends them.
COALESCED = (UPDATE_EVENT, DIAGNOSTICS_EVENT)
#: What the control channel may ask of a job.
ACTIONS = ("cancel", "pause", "resume", "set_learning_rate")


class HubWarning(RuntimeWarning):
    """Runs could not be published to the class's Redis; training went on."""


class TokenBucket:
    """At most ``rate`` tokens a second, ``burst`` at once.

    >>> bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: 0.0)
    >>> bucket.take(), bucket.take(), bucket.take()
    (True, True, False)
    >>> bucket.take(force=True), bucket.tokens
    (True, -1.0)
    """

    def __init__(self, rate: float, burst: int, clock: Any = time.monotonic) -> None:
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


@dataclass(frozen=True, slots=True)
class _Entry:
    """One event ready to be written: its run, stream entry id, name and payload."""

    job_id: str
    entry: str
    event: str
    payload: dict[str, Any]
    network: dict[str, Any] | None


#: What the training thread hands over: (event, job id, payload, job or None). The payload
#: is a dict, or the epoch's :class:`~nnlab.events.EpochRecord` for an update.
Item = tuple[str, str, Any, Any]


class Publisher(Observer):
    """Publishes every run of ``registry`` to the class ``channel`` on Redis at ``url``.

    Made and started by ``nnlab.connect``; :meth:`status` says how it goes, :meth:`stop`
    ends its threads. See the module docstring.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = CHANNEL,
        heartbeat: float = HEARTBEAT,
        registry: Registry = registry,
        buffer: int = BUFFER_LIMIT,
        emit_rate: float = EMIT_RATE,
        emit_burst: int = EMIT_BURST,
    ) -> None:
        import_redis()
        import socketio

        self.url = url
        self.keys = Keys(channel)
        self.heartbeat = float(heartbeat)
        self.kernel_id = kernel_id()
        self.registry = registry
        self.buffer = int(buffer)
        self._inbox: deque[Item] = deque()
        self._put = self._inbox.append  # the whole cost to a training thread
        self._pending: deque[_Entry] = deque()
        self._runs: dict[str, tuple[int, int]] = {}  # job id -> (epoch, step) of its last entry
        self._held: dict[str, dict[str, dict[str, Any]]] = {}  # job id -> event -> newest payload
        self._bucket = TokenBucket(emit_rate, emit_burst)
        self._client = sync_client(url)
        self._script = self._client.register_script(APPEND)
        self._manager = socketio.RedisManager(
            url,
            channel=channel,
            write_only=True,
            logger=logging.getLogger("nnlab.hub.emit"),
            redis_options={"socket_timeout": 2.0, "socket_connect_timeout": 2.0},
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._warned = False
        #: ``None`` until Redis first answered or failed, then whether the last attempt worked.
        self.connected: bool | None = None
        self.last_error: str | None = None
        self.written = 0
        self.duplicates = 0
        self.emitted = 0
        self.coalesced = 0
        self.dropped = 0
        self.failed = 0
        self.controls = 0
        self.listening = False

    # ------------------------------------------------------------ the training side
    def on_run_start(self, job: TrainingJob) -> None:
        self._put((STATUS_EVENT, job.job_id, job.status_record().to_dict(), job))

    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        self._put((UPDATE_EVENT, job.job_id, record, job))

    def on_pause(self, job: TrainingJob) -> None:
        self._put((STATUS_EVENT, job.job_id, job.status_record().to_dict(), job))

    def on_resume(self, job: TrainingJob) -> None:
        self._put((STATUS_EVENT, job.job_id, job.status_record().to_dict(), job))

    def on_run_end(self, job: TrainingJob) -> None:
        self._put((STATUS_EVENT, job.job_id, job.status_record().to_dict(), job))

    def publish(self, event: str, job_id: str, payload: dict[str, Any]) -> None:
        """Publish one more event of a run (e.g. the ``queued`` status a server announces),
        as :meth:`nnlab.server.mirror.Mirror.publish` takes it; ``payload`` has ``epoch``."""
        self._put((event, job_id, payload, None))

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Publisher:
        """Start publishing (the threads, then the registry's runs); returns ``self``."""
        for target, name in (
            (self._publish_forever, "nnlab-hub-publish"),
            (self._listen, "nnlab-hub-control"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.registry.add_observer(self)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching runs, publish what is waiting if Redis is there, remove the
        heartbeat and end the threads (joined)."""
        self.registry.remove_observer(self)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def status(self) -> dict[str, Any]:
        """How publishing goes: ``connected`` (``None`` before Redis first answered),
        events ``written`` (``duplicates``: refused as written before), ``emitted``,
        ``buffered`` (waiting), ``dropped`` (beyond the buffer), ``coalesced`` (emits left
        out over budget), ``failed`` (refused by Redis), ``last_error``, and where."""
        return {
            "url": redacted(self.url),
            "channel": self.keys.channel,
            "kernel_id": self.kernel_id,
            "running": any(t.is_alive() for t in self._threads),
            "connected": self.connected,
            "listening": self.listening,
            "written": self.written,
            "duplicates": self.duplicates,
            "emitted": self.emitted,
            "buffered": len(self._inbox) + len(self._pending),
            "dropped": self.dropped,
            "coalesced": self.coalesced,
            "failed": self.failed,
            "controls": self.controls,
            "heartbeat": self.heartbeat,
            "last_error": self.last_error,
        }

    def __repr__(self) -> str:
        state = {None: "connecting", True: "connected", False: "Redis unreachable"}[self.connected]
        return f"<Publisher {redacted(self.url)} channel={self.keys.channel!r} · {state}>"

    # ------------------------------------------------------------ the publisher thread
    def _publish_forever(self) -> None:
        retry_at = next_beat = 0.0
        delay = RETRY_FIRST
        try:
            while True:
                stopping = self._stop.is_set()
                self._take_new()
                now = time.monotonic()
                if now >= retry_at and (self._pending or now >= next_beat):
                    ok = self._write_all()
                    if ok and now >= next_beat:
                        ok = self._beat()
                        next_beat = now + self.heartbeat
                    if ok:
                        delay = RETRY_FIRST
                    else:
                        retry_at, delay = now + delay, min(RETRY_MAX, delay * 2)
                self._release_held(force=stopping and self.connected is True)
                if stopping:
                    return
                self._stop.wait(TICK)
        finally:
            if self.connected:
                with suppress(Exception):
                    self._client.delete(self.keys.kernel(self.kernel_id))
            with suppress(Exception):
                self._client.close()

    def _take_new(self) -> None:
        """Give every event handed over an entry id; keep at most ``buffer`` of them."""
        popleft = self._inbox.popleft
        while self._inbox:
            event, job_id, payload, job = popleft()
            for entry in self._entries(event, job_id, payload, job):
                if len(self._pending) >= self.buffer:
                    self._pending.popleft()
                    self.dropped += 1
                self._pending.append(entry)

    def _entries(self, event: str, job_id: str, payload: Any, job: Any) -> list[_Entry]:
        if event != UPDATE_EVENT:
            return [self._entry(event, job_id, payload, job, payload.get("epoch", 0))]
        record = payload
        entries = [self._entry(event, job_id, record.update.to_dict(), job, record.epoch)]
        if record.diagnostics is not None:
            data = record.diagnostics.payload(record.update)
            entries.append(self._entry(DIAGNOSTICS_EVENT, job_id, data, job, record.epoch))
        return entries

    def _entry(self, event: str, job_id: str, payload: dict[str, Any], job: Any, epoch: int) -> _Entry:
        """The update of epoch e is ``e-0``, the events after it ``e-1``, ``e-2`` ...; a
        run first seen after its first epoch (resumed, or watched from mid-run) goes on
        after anything written at that epoch before (by an earlier process, or a hub)."""
        last = self._runs.get(job_id)
        if event == UPDATE_EVENT:
            step = 0
        elif last is not None and epoch <= last[0]:
            epoch, step = last[0], last[1] + 1
        else:
            step = HUB_MARK + 1 if last is None and epoch > 0 else 1
        first = last is None
        if event == STATUS_EVENT and payload.get("status") in FINISHED:
            self._runs.pop(job_id, None)
        else:
            self._runs[job_id] = (epoch, step)
        network = self._network(payload, job) if first or event == STATUS_EVENT else None
        return _Entry(job_id, f"{epoch}-{step}", event, payload, network)

    def _network(self, payload: dict[str, Any], job: Any) -> dict[str, Any] | None:
        sizes = payload.get("sizes")
        if sizes is None and job is not None:
            sizes = [int(n) for n in job.network.sizes]
        if sizes is None or "network_id" not in payload:
            return None
        who = identity()
        return {"network_id": payload["network_id"], "sizes": list(sizes), **who}

    def _write_all(self) -> bool:
        """Write what waits, a batch per round trip; ``False`` if Redis failed."""
        redis = import_redis()
        while self._pending:
            batch = list(itertools.islice(self._pending, BATCH))
            pipe = self._client.pipeline(transaction=False)
            for item in batch:
                keys, args = append_args(
                    self.keys, item.job_id, item.entry, item.event, item.payload, network=item.network
                )
                self._script(keys=keys, args=args, client=pipe)
            try:
                results = pipe.execute(raise_on_error=False)
            except (redis.RedisError, OSError) as exc:
                self._lost(exc)
                return False
            finally:
                pipe.reset()
            self._reached()
            for item, result in zip(batch, results):
                self._pending.popleft()
                if isinstance(result, Exception):
                    self.failed += 1
                    self.last_error = f"Redis refused an event of run {item.job_id}: {result}"
                elif result:
                    self.written += 1
                    self._emit(item)
                else:
                    self.duplicates += 1
        return True

    def _beat(self) -> bool:
        redis = import_redis()
        value = dumps({**identity(), "channel": self.keys.channel, "heartbeat": self.heartbeat})
        try:
            self._client.set(self.keys.kernel(self.kernel_id), value, px=int(self.heartbeat * 3000))
        except (redis.RedisError, OSError) as exc:
            self._lost(exc)
            return False
        self._reached()
        return True

    def _reached(self) -> None:
        if self.connected is False:
            logger.info("nnlab publishes to Redis at %s again", redacted(self.url))
        self.connected = True

    def _lost(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.connected is False:
            return
        self.connected = False
        message = (
            f"nnlab cannot publish this kernel's runs to Redis at {redacted(self.url)} "
            f"({self.last_error}); training goes on, and up to {self.buffer} events wait here to "
            "be published when Redis is back (nnlab.hub_status() shows how it goes)"
        )
        logger.warning(message)
        if not self._warned:
            self._warned = True
            with suppress(Warning):  # where warnings are errors, publishing must go on regardless
                warnings.warn(message, HubWarning, stacklevel=2)

    # ------------------------------------------------------------ emits, within budget
    def _emit(self, item: _Entry) -> None:
        if item.event not in COALESCED:  # statuses always go, after what their run holds
            self._release_run(item.job_id)
            self._send(item.event, item.payload, force=True)
            return
        held = self._held.get(item.job_id)
        if held is None and self._bucket.take():
            self._send(item.event, item.payload)
            return
        held = self._held.setdefault(item.job_id, {})
        if item.event == UPDATE_EVENT:
            self.coalesced += len(held)  # an older update, and its diagnostics
            held.clear()
        elif item.event in held:
            self.coalesced += 1
        held[item.event] = item.payload

    def _release_run(self, job_id: str) -> None:
        for event, payload in self._ordered(self._held.pop(job_id, {})):
            self._send(event, payload, force=True)

    def _release_held(self, *, force: bool = False) -> None:
        """Send what waits while the budget allows, a run at a time (all of it: ``force``)."""
        while self._held:
            job_id = next(iter(self._held))
            if force:
                self._release_run(job_id)
                continue
            if not self._bucket.take():
                return
            held = self._held.pop(job_id)
            (event, payload), *rest = self._ordered(held)
            self._send(event, payload, spent=True)
            if rest:
                self._held[job_id] = dict(rest)  # to the back of the line

    @staticmethod
    def _ordered(held: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        return [(event, held[event]) for event in COALESCED if event in held]

    def _send(self, event: str, payload: dict[str, Any], *, force: bool = False, spent: bool = False) -> None:
        if force and not spent:
            self._bucket.take(force=True)
        try:
            self._manager.emit(event, payload, namespace="/")
        except Exception as exc:  # never let one emit stop the publisher
            self.last_error = f"emit {event}: {type(exc).__name__}: {exc}"
            return
        self.emitted += 1

    # ------------------------------------------------------------ the control thread
    def _listen(self) -> None:
        redis = import_redis()
        delay = RETRY_FIRST
        while not self._stop.is_set():
            client = sync_client(self.url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.keys.control(self.kernel_id))
                self.listening, delay = True, RETRY_FIRST
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message is not None and message.get("type") == "message":
                        self.control(message["data"])
            except (redis.RedisError, OSError) as exc:
                self.listening = False
                logger.debug("control channel lost (%s); subscribing again in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(RETRY_MAX, delay * 2)
            finally:
                self.listening = False
                with suppress(Exception):
                    pubsub.close()
                with suppress(Exception):
                    client.close()

    def control(self, message: str | bytes) -> bool:
        """Do what a control message asks: JSON ``{"action": "cancel" | "pause" | "resume" |
        "set_learning_rate", "job_id": ..., "learning_rate": ...}`` for a job of the
        registry. A message that cannot be done is logged and ignored (``False``)."""
        try:
            request = json.loads(message)
            action, job_id = request["action"], request["job_id"]
            if action not in ACTIONS:
                raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
            job = self.registry.job(job_id)
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("nnlab ignored a control message %.200r: %s", message, exc)
            return False
        try:
            if action == "set_learning_rate":
                rate = request.get("learning_rate")
                if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
                    raise ValueError(f"learning_rate must be a positive number, got {rate!r}")
                job.set_learning_rate(rate)
            else:
                getattr(job, action)()
        except Exception as exc:  # a job that has ended, a bad rate: the sender's business
            logger.warning("nnlab could not %s job %s: %s", action, job_id, exc)
            return False
        self.controls += 1
        return True
