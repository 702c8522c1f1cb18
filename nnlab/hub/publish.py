"""The kernel side of the classroom hub: every run of this process, published to Redis.

:class:`Publisher` watches every run of the process (``nnlab.connect`` adds it to the
registry). In the training thread it only appends each event to a ``deque``; its own thread
takes them from there and, event by event,

1. writes it with :data:`~nnlab.hub.keys.APPEND` to the run's stream and the class's hashes
   (many events per round trip), with an entry id derived from the epoch;
2. once written, emits it to the dashboards of the class through python-socketio's
   write-only ``RedisManager`` (``training_update`` exactly as the contract says), within
   the kernel's :mod:`~nnlab.hub.budget` (beyond it a run's updates are coalesced; the
   stream gets every event regardless);
3. renews the kernel's heartbeat key (``heartbeat`` seconds, expiring after three).

A second thread listens on the kernel's control channel (:mod:`nnlab.hub.listen`).

While Redis is down training goes on untouched: one :class:`HubWarning`, the events wait
here (up to ``buffer``; beyond that the oldest are dropped and counted) and are written, then
emitted, in order once Redis is back (``APPEND`` refuses what it has already, so writing
again is safe).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import warnings
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nnlab.events import DIAGNOSTICS_EVENT, FINISHED, STATUS_EVENT, UPDATE_EVENT
from nnlab.hub._redis import import_redis, redacted, sync_client
from nnlab.hub.budget import EMIT_BURST, EMIT_RATE, EmitBudget
from nnlab.hub.keys import APPEND, CHANNEL, HUB_MARK, Keys, append_args, dumps
from nnlab.hub.listen import ControlListener, apply
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
]

logger = logging.getLogger("nnlab.hub")

#: Events kept while Redis is down (beyond that the oldest are dropped, and counted).
BUFFER_LIMIT = 20_000
#: Most events written in one round trip.
BATCH = 500
#: Seconds between two heartbeats (the key expires after three).
HEARTBEAT = 5.0
#: Seconds between two looks at the queue (the training thread wakes no one).
TICK = 0.02
#: Seconds to wait before trying a Redis that failed again: the first, and the longest.
RETRY_FIRST, RETRY_MAX = 0.1, 2.0


class HubWarning(RuntimeWarning):
    """Runs could not be published to the class's Redis; training went on."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """One event ready to be written: its run, name and payload, and how to write it."""

    job_id: str
    event: str
    payload: dict[str, Any]
    keys: list[str]  # APPEND's keys and arguments, made once
    args: list[Any]


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
        self._budget = EmitBudget(self._send, rate=emit_rate, burst=emit_burst)
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
        self._listener = ControlListener(url, self.keys.control(self.kernel_id), registry, self._stop)
        self._threads: list[threading.Thread] = []
        self._warned = False
        #: ``None`` until Redis first answered or failed, then whether the last attempt worked.
        self.connected: bool | None = None
        self.last_error: str | None = None
        self.written = 0
        self.duplicates = 0
        self.emitted = 0
        self.dropped = 0
        self.failed = 0

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
            (self._listener.run, "nnlab-hub-control"),
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
            "listening": self._listener.listening,
            "written": self.written,
            "duplicates": self.duplicates,
            "emitted": self.emitted,
            "buffered": len(self._inbox) + len(self._pending),
            "dropped": self.dropped,
            "held": self._budget.held,
            "coalesced": self._budget.coalesced,
            "failed": self.failed,
            "controls": self._listener.done,
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
                try:
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
                    self._budget.release(force=stopping and self.connected is True)
                except Exception as exc:  # a bug here must not end publishing for the kernel
                    logger.exception("nnlab's publisher failed; it goes on")
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    retry_at = time.monotonic() + RETRY_MAX
                if stopping:
                    return
                self._stop.wait(TICK)
        finally:
            left = len(self._inbox) + len(self._pending)
            if left:
                logger.warning(
                    "nnlab stopped publishing with %d events of this kernel's runs not written to "
                    "Redis at %s (%s)",
                    left,
                    redacted(self.url),
                    self.last_error,
                )
            if self.connected:
                with suppress(Exception):
                    self._client.delete(self.keys.kernel(self.kernel_id))
            with suppress(Exception):
                self._client.close()
            _close_manager(self._manager)

    def _take_new(self) -> None:
        """Give every event handed over an entry id; keep at most ``buffer`` of them."""
        popleft = self._inbox.popleft
        while self._inbox:
            event, job_id, payload, job = popleft()
            try:
                entries = self._entries(event, job_id, payload, job)
            except (ValueError, TypeError, AttributeError) as exc:  # e.g. a NaN: not JSON
                self.failed += 1
                self.last_error = f"cannot publish {event} of run {job_id}: {exc}"
                continue
            for entry in entries:
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
            try:
                entries.append(self._entry(DIAGNOSTICS_EVENT, job_id, data, job, record.epoch))
            except ValueError as exc:  # a diverged run's NaN: the update goes anyway
                self.failed += 1
                self.last_error = f"cannot publish {DIAGNOSTICS_EVENT} of run {job_id}: {exc}"
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
        keys, args = append_args(self.keys, job_id, f"{epoch}-{step}", event, payload, network=network)
        return _Entry(job_id, event, payload, keys, args)

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
                self._script(keys=item.keys, args=item.args, client=pipe)
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
                    self._budget.emit(item.job_id, item.event, item.payload)
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

    # ------------------------------------------------------------ emits (within the budget)
    def _send(self, event: str, payload: dict[str, Any]) -> None:
        try:
            self._manager.emit(event, payload, namespace="/")
        except Exception as exc:  # never let one emit stop the publisher
            self.last_error = f"emit {event}: {type(exc).__name__}: {exc}"
            return
        self.emitted += 1

    def control(self, message: str | bytes) -> bool:
        """Do what a control message asks (:func:`nnlab.hub.listen.apply`)."""
        return apply(self.registry, message)


def _close_manager(manager: Any) -> None:
    """Close the Redis connection a write-only ``socketio.RedisManager`` opened on its first
    emit (python-socketio has no public call for it: it keeps it as ``.redis``)."""
    client = getattr(manager, "redis", None)
    if client is not None:
        with suppress(Exception):
            client.close()
