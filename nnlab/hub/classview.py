"""The hub's view of a class: every kernel's runs, from Redis, in order, none twice.

Runs on the hub's event loop. Kernels write each event of a run to the run's stream (and the
class's hashes) with :data:`nnlab.hub.keys.APPEND`, then broadcast it on the class channel;
the hub's :class:`~nnlab.hub.manager.ClassManager` hands the broadcasts to :meth:`ClassView.receive`.

* **Start:** the view rebuilds itself from Redis (every run's newest status, update and its
  stream's last entry), so a hub started or restarted mid-class shows the runs going on.
* **Sequencer:** each run's events are released into the server's outbox (``put``) in
  stream order. The next epoch's update goes straight through; anything else (a status, a
  gap in epochs, a run first met) is read from the run's stream after the last entry
  released, with ``XRANGE`` (at most ``FILL_LIMIT`` entries per fill; beyond that the
  newest only, counted as ``coalesced``). An update already released is dropped.
* **Reconcile:** every ``RECONCILE_INTERVAL`` seconds the runs changed since the last look
  (``{channel}:changes``) are filled the same way: what pub/sub lost (Redis or the
  subscription down, a hub started mid-run) arrives in order.
* **Heartbeats:** a running, paused or queued run whose kernel's heartbeat key is gone at
  two looks in a row (``HEARTBEAT_CHECK`` apart) is written ``interrupted`` (at entry
  ``epoch-HUB_MARK``: of several hubs one wins) and broadcast. So a killed kernel's runs
  show as interrupted at most its heartbeat's expiry (3 x its interval: 15 s by default)
  plus about ``3 * HEARTBEAT_CHECK`` (3 s) after its last sign of life.

Runs of the hub's own registry are skipped (they reach the outbox through the mirror). The
view also answers the REST API about kernels' runs and is the replay source for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nnlab.events import FINISHED, STATUS_EVENT, UPDATE_EVENT
from nnlab.hub._redis import SOCKET_TIMEOUT, check_redis_url, import_redis, redacted
from nnlab.hub.keys import APPEND, HUB_MARK, Keys, append_args, decode_entries

__all__ = [
    "FILL_LIMIT",
    "HEARTBEAT_CHECK",
    "RECONCILE_INTERVAL",
    "ClassView",
    "KernelGoneError",
    "RunEndedError",
    "UnknownRunError",
]

logger = logging.getLogger("nnlab.server")

#: Seconds between two looks at the class's changes.
RECONCILE_INTERVAL = 0.5
#: Seconds between two looks at the kernels' heartbeats.
HEARTBEAT_CHECK = 1.0
#: Entries one ``XRANGE`` reads.
FILL_BATCH = 500
#: Most entries one fill releases; beyond that the newest only.
FILL_LIMIT = 5000
#: Seconds after Redis came back (or lost its data) during which no heartbeat is judged:
#: kernels need one heartbeat interval (5 s by default) to write theirs again.
HEARTBEAT_GRACE = 20.0
#: Milliseconds a hub's mark outlives its last reconcile.
MARK_TTL_MS = 60_000
#: Statuses of a run whose kernel must be alive.
ALIVE = frozenset({"running", "paused", "queued"})

Put = Callable[[tuple[str, str, Any]], None]
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class UnknownRunError(KeyError):
    """No kernel of the class has a run with this id."""


class RunEndedError(RuntimeError):
    """The run has ended: there is nothing to ask its kernel."""

    def __init__(self, job_id: str, status: str, action: str) -> None:
        super().__init__(f"job {job_id} has already ended ({status}): nothing to {action}")
        self.status = status


class KernelGoneError(RuntimeError):
    """The run's kernel no longer sends heartbeats: it cannot be asked anything."""

    def __init__(self, owner: str | None, kernel_id: str | None, what: str) -> None:
        super().__init__(
            f"{what} lives in the kernel {kernel_id} of {owner}, which no longer answers (its "
            "heartbeat is gone): ask its owner to restart it"
        )
        self.owner = owner
        self.kernel_id = kernel_id


def _parse_id(entry: str) -> tuple[int, int]:
    first, _, second = entry.partition("-")
    return int(first), int(second or 0)


@dataclass
class _Run:
    job_id: str
    network_id: str | None = None
    kernel_id: str | None = None
    owner: str | None = None
    host: str | None = None
    status: dict[str, Any] | None = None
    cursor: tuple[int, int] = (0, 0)  # the last stream entry released
    missing: int = 0  # heartbeat looks in a row that found no heartbeat
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def identify(self, payload: dict[str, Any]) -> None:
        for name in ("network_id", "kernel_id", "owner", "host"):
            value = payload.get(name)
            if isinstance(value, str):
                setattr(self, name, value)


@dataclass
class RedisState:
    """What ``/api/health`` shows of the hub's Redis."""

    url: str
    channel: str
    connected: bool = False
    last_error: str | None = None
    last_error_at: float | None = None
    #: Events released into the outbox, and those a fill skipped (newest only).
    released: int = 0
    coalesced: int = 0
    #: Runs marked ``interrupted`` by this hub.
    interrupted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": redacted(self.url),
            "channel": self.channel,
            "connected": self.connected,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "released": self.released,
            "coalesced": self.coalesced,
            "interrupted": self.interrupted,
        }


class ClassView:
    """Every kernel's runs of one class, for one hub.

    ``put`` takes ``(event, job_id, payload)`` (the server's outbox); ``held(job_id)`` says
    whether the hub's own registry has the run (REST shows it from there);
    ``delivered(job_id, kernel_id)`` whether the server's mirror puts the run's events in
    the outbox already (default: ``held``); ``emit(event, payload)`` broadcasts on the class
    channel (to every hub, this one included).
    """

    def __init__(
        self,
        url: str,
        channel: str,
        put: Put,
        held: Callable[[str], bool],
        emit: Emit | None = None,
        *,
        delivered: Callable[[str, str | None], bool] | None = None,
        reconcile_interval: float = RECONCILE_INTERVAL,
        heartbeat_check: float = HEARTBEAT_CHECK,
    ) -> None:
        self.url = check_redis_url(url)
        self.keys = Keys(channel)
        self._put = put
        self._held = held
        self._delivered = delivered or (lambda job_id, kernel_id: held(job_id))
        self._emit = emit
        self._reconcile_interval = reconcile_interval
        self._heartbeat_check = heartbeat_check
        self.state = RedisState(url, channel)
        self._runs: dict[str, _Run] = {}
        self._version = 0
        self._built = False
        # A key of this hub's own, rewritten at every reconcile: gone means Redis lost its
        # data (restarted without saving), so the class's version counter started again.
        self._mark = f"{self.keys.channel}:hub:{uuid.uuid4().hex}"
        self._client: Any = None
        self._append: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeat_grace = HEARTBEAT_GRACE
        self._back_at = -math.inf  # when Redis last came back (time.monotonic())

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect, rebuild from Redis (when it answers), then keep reconciling."""
        redis = import_redis()
        self._client = redis.asyncio.Redis.from_url(
            self.url,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
        )
        self._append = self._client.register_script(APPEND)
        await self._guard(self._rebuild)
        self._tasks = [
            asyncio.create_task(
                self._every(self._reconcile_interval, self.reconcile), name="nnlab-hub-reconcile"
            ),
            asyncio.create_task(
                self._every(self._heartbeat_check, self.check_heartbeats), name="nnlab-hub-heartbeats"
            ),
        ]

    async def stop(self) -> None:
        """Stop the background looks and close the connection."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()

    async def _every(self, seconds: float, look: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self._guard(look)

    async def _guard(self, step: Callable[[], Awaitable[None]]) -> bool:
        """Run ``step``; a Redis failure is recorded (health) and retried at the next look."""
        try:
            if not self._built and step != self._rebuild:
                await self._rebuild()
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.state.connected or self.state.last_error is None:
                logger.warning("classroom hub: Redis %s: %s", redacted(self.url), exc)
            self.state.connected = False
            self.state.last_error = f"{type(exc).__name__}: {exc}"
            self.state.last_error_at = time.time()
            return False
        if not self.state.connected and self.state.last_error is not None:
            self._back_at = time.monotonic()  # back after a failure: heartbeats may be gone
        self.state.connected = True
        return True

    # ------------------------------------------------------------------ building
    async def _rebuild(self) -> None:
        client = self._client
        await client.set(self._mark, "1", px=MARK_TTL_MS)
        version = int(await client.get(self.keys.version) or 0)
        statuses = await client.hgetall(self.keys.status)
        latest = await client.hgetall(self.keys.latest)
        for job_id, text in statuses.items():
            if self._held(job_id) or job_id in self._runs:
                continue
            status = json.loads(text)
            run = self._runs[job_id] = _Run(job_id)
            run.identify(status)
            run.status = status
            last = await client.xrevrange(self.keys.job(job_id), count=1)
            if last:
                run.cursor = _parse_id(last[0][0])
            if status.get("status") in ALIVE and not self._delivered(job_id, run.kernel_id):
                self._put((STATUS_EVENT, job_id, status))
                if job_id in latest:
                    self._put((UPDATE_EVENT, job_id, json.loads(latest[job_id])))
        self._version = version
        self._built = True

    def _run(self, job_id: str, payload: dict[str, Any] | None = None) -> _Run:
        run = self._runs.get(job_id)
        if run is None:
            run = self._runs[job_id] = _Run(job_id)
        if payload is not None:
            run.identify(payload)
        return run

    # ------------------------------------------------------------------ the sequencer
    async def receive(self, event: str, payload: dict[str, Any]) -> None:
        """A kernel's broadcast (from the manager): release it and whatever came before it."""
        job_id = payload.get("job_id")
        if not isinstance(job_id, str) or self._held(job_id):
            return
        run = self._run(job_id, payload if event == STATUS_EVENT else None)
        epoch = payload.get("epoch") if event == UPDATE_EVENT else None
        if isinstance(epoch, int) and not run.lock.locked():
            if epoch <= run.cursor[0]:
                return  # released already
            # (a run first met is read from its stream: its status comes before its epochs)
            if epoch == run.cursor[0] + 1 and run.cursor != (0, 0) and self._built:
                self._release(run, f"{epoch}-0", event, payload)
                return
        await self._guard(lambda: self._fill(run))

    async def _fill(self, run: _Run) -> None:
        """Release the run's stream entries after its cursor, in order."""
        async with run.lock:
            key = self.keys.job(run.job_id)
            released = 0
            while True:
                start = f"({run.cursor[0]}-{run.cursor[1]}"
                entries = decode_entries(await self._client.xrange(key, min=start, max="+", count=FILL_BATCH))
                for entry, event, payload in entries:
                    self._release(run, entry, event, payload)
                released += len(entries)
                if len(entries) < FILL_BATCH:
                    return
                if released >= FILL_LIMIT:
                    break
            # Too far behind: the newest update and what followed it; clients that want the
            # epochs in between replay them from the stream (auth since, catch-up).
            tail = decode_entries(await self._client.xrevrange(key, count=FILL_BATCH))[::-1]
            updates = [i for i, (_, event, _) in enumerate(tail) if event == UPDATE_EVENT]
            first = updates[-1] if updates else 0
            for entry, event, payload in tail[first:]:
                if _parse_id(entry) > run.cursor:
                    if event == UPDATE_EVENT:
                        self.state.coalesced += max(0, _parse_id(entry)[0] - run.cursor[0] - 1)
                    self._release(run, entry, event, payload)

    def _release(self, run: _Run, entry: str, event: str, payload: dict[str, Any]) -> None:
        run.cursor = _parse_id(entry)
        if event == STATUS_EVENT:
            run.identify(payload)
            run.status = payload
            run.missing = 0
        if self._delivered(run.job_id, run.kernel_id):
            return  # this process's run, from another server's registry: the mirror has it
        self.state.released += 1
        self._put((event, run.job_id, payload))

    async def reconcile(self) -> None:
        """Fill every run changed since the last look (what pub/sub may have lost)."""
        client = self._client
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(self._mark, "1", px=MARK_TTL_MS, get=True)
            pipe.get(self.keys.version)
            marked, counter = await pipe.execute()
        version = int(counter or 0)
        if marked is None or version < self._version:  # Redis lost its data: look at every run
            self._version = 0
            self._back_at = time.monotonic()
        if version == self._version:
            return
        changed = await client.zrangebyscore(self.keys.changes, f"({self._version}", "+inf", withscores=True)
        for job_id, score in changed:
            if not self._held(job_id):
                run = self._runs.get(job_id)
                if run is None:
                    text = await client.hget(self.keys.status, job_id)
                    run = self._run(job_id, None if text is None else json.loads(text))
                await self._fill(run)
            self._version = max(self._version, int(score))

    # ------------------------------------------------------------------ heartbeats
    async def check_heartbeats(self) -> None:
        """Mark ``interrupted`` the live runs of kernels whose heartbeat is gone."""
        runs = [
            run
            for run in self._runs.values()
            if run.kernel_id and run.status is not None and run.status.get("status") in ALIVE
        ]
        if not runs:
            return
        if time.monotonic() - self._back_at < self._heartbeat_grace:
            for run in runs:
                run.missing = 0
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for run in runs:
                pipe.exists(self.keys.kernel(run.kernel_id or ""))
            alive = await pipe.execute()
        for run, up in zip(runs, alive, strict=True):
            if up:
                run.missing = 0
                continue
            run.missing += 1
            if run.missing >= 2:
                await self._interrupt(run)

    async def _interrupt(self, run: _Run) -> None:
        assert run.status is not None
        epoch = run.cursor[0]
        status = {**run.status, "status": "interrupted", "epoch": epoch, "stop_reason": "interrupted"}
        status["error"] = f"the kernel {run.kernel_id} of {run.owner} stopped sending heartbeats"
        keys, args = append_args(self.keys, run.job_id, f"{epoch}-{HUB_MARK}", STATUS_EVENT, status)
        written = await self._append(keys=keys, args=args)
        if written and self._emit is not None:
            self.state.interrupted += 1
            logger.info(
                "classroom hub: run %s of %s interrupted (kernel %s gone)",
                run.job_id,
                run.owner,
                run.kernel_id,
            )
            await self._emit(STATUS_EVENT, status)  # every hub, this one too (through receive)
        else:
            await self._fill(run)

    # ------------------------------------------------------------------ replay source
    def knows(self, job_id: str) -> bool:
        """Whether a kernel of the class has this run."""
        return job_id in self._runs

    async def after(self, job_id: str, epoch: int, limit: int) -> list[dict[str, Any]] | None:
        """At most ``limit`` updates of a kernel's run after ``epoch``, from its stream."""
        if job_id not in self._runs or self._client is None:
            return None
        out: list[dict[str, Any]] = []
        start = f"{epoch + 1}-0"
        while len(out) < limit:
            entries = decode_entries(
                await self._client.xrange(self.keys.job(job_id), min=start, max="+", count=max(limit, 16))
            )
            out.extend(p for _, e, p in entries if e == UPDATE_EVENT and p.get("epoch", 0) > epoch)
            if len(entries) < max(limit, 16):
                break
            last = _parse_id(entries[-1][0])
            start = f"({last[0]}-{last[1]}"
        return out[:limit]

    async def ended(self, job_id: str) -> dict[str, Any] | None:
        """The final ``training_status`` of a kernel's run that has ended, else ``None``."""
        if job_id not in self._runs or self._client is None:
            return None
        text = await self._client.hget(self.keys.status, job_id)
        status = None if text is None else json.loads(text)
        return status if status is not None and status.get("status") in FINISHED else None

    # ------------------------------------------------------------------ REST source
    async def jobs(self) -> list[dict[str, Any]]:
        """Every kernel's run as ``GET /api/jobs`` shows a job (oldest first by stream)."""
        client = self._client
        statuses = await client.hgetall(self.keys.status)
        latest = await client.hgetall(self.keys.latest)
        return [
            _job(json.loads(text), _loads(latest.get(job_id)))
            for job_id, text in statuses.items()
            if not self._held(job_id)
        ]

    async def job(self, job_id: str, *, history: bool = True) -> dict[str, Any]:
        """One kernel's run (``history``: every epoch's update from its stream)."""
        client = self._client
        text = await client.hget(self.keys.status, job_id)
        if text is None or self._held(job_id):
            raise UnknownRunError(job_id)
        data = _job(json.loads(text), _loads(await client.hget(self.keys.latest, job_id)))
        if history:
            entries = decode_entries(await client.xrange(self.keys.job(job_id)))
            data["history"] = [p for _, e, p in entries if e == UPDATE_EVENT]
        return data

    async def updates(self, job_id: str, after: int) -> list[dict[str, Any]]:
        """A kernel's run's updates after epoch ``after``."""
        if not await self._client.hexists(self.keys.status, job_id):
            raise UnknownRunError(job_id)
        self._run(job_id)
        return await self.after(job_id, after, 1 << 30) or []

    async def networks(self) -> list[dict[str, Any]]:
        """Every kernel's network as ``GET /api/networks`` shows one."""
        client = self._client
        networks = await client.hgetall(self.keys.networks)
        jobs = await self.jobs()
        out = []
        for text in networks.values():
            net = json.loads(text)
            out.append(_network(net, [j for j in jobs if j["network_id"] == net.get("network_id")]))
        return out

    async def network(self, network_id: str) -> dict[str, Any]:
        """One kernel's network, or :class:`UnknownRunError`."""
        text = await self._client.hget(self.keys.networks, network_id)
        if text is None:
            raise UnknownRunError(network_id)
        jobs = [j for j in await self.jobs() if j["network_id"] == network_id]
        return _network(json.loads(text), jobs)

    # ------------------------------------------------------------------ control
    async def control(self, job_id: str, action: str, **fields: Any) -> dict[str, Any]:
        """Ask the run's kernel to ``action`` it; the run as ``GET /api/jobs/{id}`` shows it now.

        :class:`UnknownRunError` for no such run, :class:`KernelGoneError` when its kernel's
        heartbeat is gone.
        """
        job = await self.job(job_id, history=False)
        if job["status"] in FINISHED:
            raise RunEndedError(job_id, job["status"], action.replace("_", " "))
        kernel_id = job.get("kernel_id")
        if not kernel_id or not await self._client.exists(self.keys.kernel(kernel_id)):
            raise KernelGoneError(job.get("owner"), kernel_id, f"job {job_id}")
        message = {"action": action, "job_id": job_id, **fields}
        await self._client.publish(self.keys.control(kernel_id), json.dumps(message))
        return job


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _job(status: dict[str, Any], latest: dict[str, Any] | None) -> dict[str, Any]:
    """A kernel's run in the shape of :meth:`nnlab.training.TrainingJob.to_dict`, as far as
    its events tell (what they do not carry is ``None``)."""
    epochs = latest["epoch"] if latest is not None else 0
    return {
        "job_id": status["job_id"],
        "network_id": status.get("network_id"),
        "status": status.get("status"),
        "parameters": None,
        "epochs_completed": epochs,
        "total_epochs": status.get("total_epochs"),
        "latest": latest,
        "error": status.get("error"),
        "stop_reason": status.get("stop_reason"),
        "owner": status.get("owner"),
        "host": status.get("host"),
        "kernel_id": status.get("kernel_id"),
        "hints": [],
        "learning_rate": None,
        "created_at": None,
        "started_at": None,
        "finished_at": None,
        "elapsed_time": None if latest is None else latest.get("elapsed_time"),
        "paused_time": None,
        "saved": None,
    }


def _network(net: dict[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    active = [j["job_id"] for j in jobs if j["status"] in ALIVE]
    return {
        **net,
        "active_job_id": active[-1] if active else None,
        "job_ids": [j["job_id"] for j in jobs],
    }
