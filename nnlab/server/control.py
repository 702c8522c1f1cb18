"""Pause, resume and a new learning rate for a job, from REST and from Socket.IO.

Both ways share :class:`JobControl`: it finds the job, asks it (the training thread acts at
its next mini-batch) and waits up to ``SETTLE_SECONDS``, off the server loop, until the
job says it has, so the answer usually shows the new state. Refusals are
:class:`~nnlab.server.bodies.ApiError`: 404 for an unknown job, 409 for a job that has
ended, 422 for a bad value, each naming the field.

Socket.IO clients may send (clients that send nothing see no change):

* ``pause_job`` ``{job_id}``, ``resume_job`` ``{job_id}``,
* ``set_learning_rate`` ``{job_id, learning_rate}``,

and get an acknowledgement: ``{"ok": true, "job": {...}}`` (the job as ``GET
/api/jobs/{job_id}?history=false`` shows it) or ``{"ok": false, "code": 409, "error":
..., "field": ...}``. Every client also sees the change as a ``training_status`` event
(``paused``, then ``running`` again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from nnlab.params import ParameterError
from nnlab.registry import Job, Registry
from nnlab.server.bodies import ApiError
from nnlab.training import JobStateError

if TYPE_CHECKING:
    import socketio

__all__ = ["CONTROL_EVENTS", "SETTLE_SECONDS", "JobControl", "register_control_events"]

logger = logging.getLogger("nnlab.server")

#: Longest a request waits for the training thread to act before answering.
SETTLE_SECONDS = 2.0
#: Fields a ``PATCH /api/jobs/{job_id}`` body may carry.
PATCH_FIELDS = ("learning_rate",)


#: Asks another process (a kernel of a hub's class) about its run: ``await remote(job_id,
#: action, body)`` with action ``"pause"``, ``"resume"`` or ``"patch"``; the run as JSON.
Remote = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class JobControl:
    """The control operations over one registry; each returns the job as JSON.

    ``remote`` handles the jobs the registry does not hold (on a classroom hub: the
    kernels' runs, asked over Redis); it raises the 404 for a job nobody has.
    """

    def __init__(self, registry: Registry, remote: Remote | None = None) -> None:
        self.registry = registry
        self.remote = remote

    def _held(self, job_id: Any) -> bool:
        if self.remote is None or not isinstance(job_id, str):
            return True
        try:
            self.registry.job(job_id)
        except KeyError:
            return False
        return True

    def job(self, job_id: Any) -> Job:
        """The job with this id, or a 404 (422 if ``job_id`` is not a string)."""
        if not isinstance(job_id, str):
            raise ApiError(422, "job_id", f"job_id must be a job's id (a string), got {job_id!r}")
        try:
            return self.registry.job(job_id)
        except KeyError:
            raise ApiError(404, "job_id", f"no job with id {job_id!r}: GET /api/jobs lists them") from None

    async def pause(self, job_id: Any) -> dict[str, Any]:
        """Pause the job at its next mini-batch."""
        if not self._held(job_id) and self.remote is not None:
            return await self.remote(job_id, "pause", {})
        job = self.job(job_id)
        return await self._act(job, job.pause)

    async def resume(self, job_id: Any) -> dict[str, Any]:
        """Let a paused job go on."""
        if not self._held(job_id) and self.remote is not None:
            return await self.remote(job_id, "resume", {})
        job = self.job(job_id)
        return await self._act(job, job.resume)

    async def update(self, job_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        """Apply a ``PATCH`` body (``{"learning_rate": ...}``)."""
        if not self._held(job_id) and self.remote is not None:
            return await self.remote(job_id, "patch", body)
        job = self.job(job_id)
        unknown = [key for key in body if key not in PATCH_FIELDS]
        if unknown:
            raise ApiError(
                422, str(unknown[0]), f"unknown field {unknown[0]!r}: the fields are {list(PATCH_FIELDS)}"
            )
        if "learning_rate" not in body:
            raise ApiError(
                422,
                "learning_rate",
                'learning_rate is required, e.g. {"learning_rate": 0.5}: nothing to change',
            )
        value = body["learning_rate"]
        return await self._act(job, lambda: job.set_learning_rate(value))

    async def _act(self, job: Job, action: Callable[[], None]) -> dict[str, Any]:
        try:
            action()
        except ParameterError as exc:
            raise ApiError(422, exc.field, str(exc)) from None
        except JobStateError as exc:
            raise ApiError(409, "job_id", str(exc), job_status=exc.status) from None
        await asyncio.to_thread(job.wait_settled, SETTLE_SECONDS)
        return job.to_dict(history=False)


#: The Socket.IO events a client may send.
CONTROL_EVENTS = ("pause_job", "resume_job", "set_learning_rate")


def register_control_events(sio: socketio.AsyncServer, control: JobControl) -> None:
    """Answer ``pause_job``, ``resume_job`` and ``set_learning_rate`` with an ack."""

    def handler(event: str, act: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> Any:
        async def on_event(sid: str, data: Any = None) -> dict[str, Any]:
            try:
                if not isinstance(data, dict):
                    raise ApiError(
                        422, "body", f"{event} takes an object such as {{job_id: '...'}}, got {data!r}"
                    )
                return {"ok": True, "job": await act(data)}
            except ApiError as exc:
                return {"ok": False, "code": exc.status, **exc.to_dict()}
            except Exception as exc:  # never let a client's event break the server
                logger.exception("Socket.IO %s failed", event)
                return {
                    "ok": False,
                    "code": 500,
                    "error": f"internal error ({type(exc).__name__})",
                    "field": None,
                }

        return on_event

    def fields(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                raise ApiError(422, str(key), f"unknown field {key!r}: the fields are {list(allowed)}")

    async def pause(data: dict[str, Any]) -> dict[str, Any]:
        fields(data, ("job_id",))
        return await control.pause(data.get("job_id"))

    async def resume(data: dict[str, Any]) -> dict[str, Any]:
        fields(data, ("job_id",))
        return await control.resume(data.get("job_id"))

    async def learning_rate(data: dict[str, Any]) -> dict[str, Any]:
        body = {key: value for key, value in data.items() if key != "job_id"}
        return await control.update(data.get("job_id"), body)

    sio.on("pause_job", handler("pause_job", pause))
    sio.on("resume_job", handler("resume_job", resume))
    sio.on("set_learning_rate", handler("set_learning_rate", learning_rate))
