"""The REST API: networks, training jobs and datasets as JSON (see ``server/README.md``).

Handlers run on the server loop and never block it: building a network or a job (which may
load a dataset) happens in a worker thread, and training runs in one of at most
``max_running_jobs`` worker threads; further jobs wait, ``queued``, in a bounded FIFO
(:mod:`nnlab.server.admission`). The networks held are bounded too
(``max_total_parameters``). Every refusal is a 4xx JSON ``{"error": ..., "field": ...}``; an
unexpected failure is a 500 JSON without a traceback (logged to the ``nnlab.server`` logger).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nnlab import datasets
from nnlab.events import FINISHED, STATUSES
from nnlab.hub.classview import ClassView, KernelGoneError, RunEndedError, UnknownRunError
from nnlab.launch import resume_job
from nnlab.network import Network, count_parameters
from nnlab.params import ParameterError, check_params, positive_int
from nnlab.registry import Job, NetworkBusyError, Registry
from nnlab.server.admission import (
    Admission,
    AdmissionClosedError,
    QueueFullError,
    default_max_running_jobs,
)
from nnlab.server.bodies import (
    DEFAULT_MAX_TOTAL_PARAMETERS,
    NETWORK_FIELDS,
    TRAIN_FIELDS,
    ApiError,
    flag,
    network_options,
    read_object,
    train_options,
)
from nnlab.server.control import PATCH_FIELDS, JobControl
from nnlab.server.openapi import openapi_document
from nnlab.server.stored import SaveWhenStarted, stored_job, stored_jobs, stored_networks, stored_summary
from nnlab.store import Store, StoreError
from nnlab.training import TrainingJob, resolve_data

__all__ = ["RETRY_AFTER_SECONDS", "RestApi"]

logger = logging.getLogger("nnlab.server")

#: What a 429 (full training queue) asks the client to wait before retrying.
RETRY_AFTER_SECONDS = 10

Endpoint = Callable[["RestApi", Request], Awaitable[Response]]


def _endpoint(method: Endpoint) -> Endpoint:
    """Turn ``ApiError`` into its JSON response and anything unexpected into a bare 500."""

    @functools.wraps(method)
    async def wrapper(self: RestApi, request: Request) -> Response:
        try:
            return await method(self, request)
        except ApiError as exc:
            return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)
        except Exception as exc:
            logger.exception("%s %s failed", request.method, request.url.path)
            return JSONResponse(
                {
                    "error": f"internal error ({type(exc).__name__}); the 'nnlab.server' logger has details",
                    "field": None,
                },
                status_code=500,
            )

    return wrapper


def _busy(network_id: str, job_id: str) -> ApiError:
    return ApiError(
        409,
        "network_id",
        f"network {network_id} is already being trained by job {job_id}: wait for it to end "
        f"(GET /api/jobs/{job_id}) or cancel it (POST /api/jobs/{job_id}/cancel)",
        job_id=job_id,
    )


def _in_kernel(network: dict[str, Any], what: str) -> ApiError:
    """The 409 for a network that lives in a kernel of the hub's class."""
    return ApiError(
        409,
        "network_id",
        f"network {network['network_id']} lives in the kernel {network.get('kernel_id')} of "
        f"{network.get('owner')}: {what}",
        owner=network.get("owner"),
        kernel_id=network.get("kernel_id"),
    )


class RestApi:
    """The REST endpoints over one registry; ``clients()`` counts Socket.IO clients and
    ``mirror()`` gives the fan-out's counts (:class:`nnlab.server.fanout.MirrorStats`).

    Jobs run through ``admission`` (by default one slot per CPU and 100 waiting jobs);
    creating a network is refused once all networks together would exceed
    ``max_total_parameters`` weights and biases. With a run ``store``, REST jobs are saved
    to it and the stored runs of every process are listed beside the registry's.
    """

    def __init__(
        self,
        registry: Registry,
        clients: Callable[[], int] = lambda: 0,
        *,
        mirror: Callable[[], dict[str, Any]] | None = None,
        admission: Admission | None = None,
        max_total_parameters: int = DEFAULT_MAX_TOTAL_PARAMETERS,
        store: Store | None = None,
        classview: ClassView | None = None,
    ) -> None:
        self.registry = registry
        #: A hub's view of its class: kernels' runs are listed, shown and controlled too.
        self.classview = classview
        self.store = store
        self.clients = clients
        self.mirror = mirror
        self.admission = admission or Admission(registry, default_max_running_jobs())
        self.max_total_parameters = positive_int("max_total_parameters", max_total_parameters, "2")
        self._size_lock = threading.Lock()
        self._reserved = 0  # parameters of networks being built right now
        self.control = JobControl(registry, remote=None if classview is None else self._ask_kernel)

    def routes(self) -> list[Route]:
        """Starlette routes of every endpoint (the OpenAPI document lists the same)."""
        return [
            Route("/api/health", self.health, methods=["GET"]),
            Route("/api/networks", self.list_networks, methods=["GET"]),
            Route("/api/networks", self.create_network, methods=["POST"]),
            Route("/api/networks/{network_id}", self.get_network, methods=["GET"]),
            Route("/api/networks/{network_id}", self.delete_network, methods=["DELETE"]),
            Route("/api/networks/{network_id}/train", self.train, methods=["POST"]),
            Route("/api/networks/{network_id}/jobs", self.network_jobs, methods=["GET"]),
            Route("/api/jobs", self.list_jobs, methods=["GET"]),
            Route("/api/jobs/{job_id}", self.get_job, methods=["GET"]),
            Route("/api/jobs/{job_id}", self.update_job, methods=["PATCH"]),
            Route("/api/jobs/{job_id}/cancel", self.cancel_job, methods=["POST"]),
            Route("/api/jobs/{job_id}/updates", self.job_updates, methods=["GET"]),
            Route("/api/jobs/{job_id}/pause", self.pause_job, methods=["POST"]),
            Route("/api/jobs/{job_id}/resume", self.resume_job, methods=["POST"]),
            Route("/api/datasets", self.list_datasets, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
        ]

    # ------------------------------------------------------------------ lookups
    def _network(self, request: Request) -> Network:
        network_id = request.path_params["network_id"]
        try:
            return self.registry.network(network_id)
        except KeyError:
            raise ApiError(
                404, "network_id", f"no network with id {network_id!r}: GET /api/networks lists them"
            ) from None

    def _job(self, request: Request) -> Job:
        job_id = request.path_params["job_id"]
        try:
            return self.registry.job(job_id)
        except KeyError:
            raise ApiError(404, "job_id", f"no job with id {job_id!r}: GET /api/jobs lists them") from None

    def _network_json(self, net: Network, *, parameters: bool = False) -> dict[str, Any]:
        data = net.to_dict(parameters=parameters)
        data.pop("format", None)
        data.pop("version", None)
        active = self.registry.active_job(net.network_id)
        data["active_job_id"] = None if active is None else active.job_id
        data["job_ids"] = [job.job_id for job in self.registry.jobs(net.network_id)]
        return data

    # ------------------------------------------------------------------ endpoints
    @_endpoint
    async def health(self, request: Request) -> Response:
        from nnlab import __version__

        mirror = None if self.mirror is None else self.mirror()
        failing = mirror is not None and mirror["failing"]
        redis = None if self.classview is None else self.classview.state.to_dict()
        failing = failing or (redis is not None and not redis["connected"])
        return JSONResponse(
            {
                "status": "degraded" if failing else "ok",
                "version": __version__,
                "clients": self.clients(),
                "networks": len(self.registry.networks()),
                "jobs": len(self.registry.jobs()),
                "running_jobs": sum(
                    job.status in ("running", "paused") for job in self.registry.active_jobs()
                ),
                "queued_jobs": sum(job.status == "queued" for job in self.registry.active_jobs()),
                "mirror": mirror,
                "histories": self.registry.retention(),
                "store": self.store_health(),
                "redis": redis,
            }
        )

    def store_health(self) -> dict[str, Any] | None:
        """The health's ``store``: the file, whether runs are being saved and why not
        (``None`` when the store is off)."""
        store = self.store
        if store is None:
            return None
        return {"path": str(store.path), "saving": store.healthy, "failure": store.failure}

    @_endpoint
    async def list_networks(self, request: Request) -> Response:
        held = [self._network_json(net) for net in self.registry.networks()]
        if self.classview is not None:
            known = {data["network_id"] for data in held}
            held += [n for n in await self._class(self.classview.networks) if n["network_id"] not in known]
        store = self.store
        if store is None:
            return JSONResponse(held)
        stored = await run_in_threadpool(self._read_store, stored_networks, store, self.registry)
        for data in held:  # the registry's view wins; the store adds runs of other processes
            other = stored.pop(data["network_id"], None)
            if other is not None:
                data["job_ids"] = [
                    *other["job_ids"],
                    *(j for j in data["job_ids"] if j not in other["job_ids"]),
                ]
        return JSONResponse(held + list(stored.values()))

    @_endpoint
    async def create_network(self, request: Request) -> Response:
        options = network_options(await read_object(request, NETWORK_FIELDS))
        size = count_parameters(options["sizes"])
        self._reserve(size)
        try:
            # Large networks take a moment to draw: keep the loop free.
            net = await run_in_threadpool(lambda: Network(**options))
            self.registry.add_network(net)
        finally:
            with self._size_lock:
                self._reserved -= size
        return JSONResponse(self._network_json(net), status_code=201)

    def _reserve(self, size: int) -> None:
        """Count ``size`` parameters as held, or refuse if the total would pass the limit."""
        with self._size_lock:
            held = sum(net.n_parameters for net in self.registry.networks()) + self._reserved
            if held + size > self.max_total_parameters:
                raise ApiError(
                    413,
                    "sizes",
                    f"this network's {size:,} weights and biases would bring the networks held by "
                    f"this server to {held + size:,}, above its limit of "
                    f"{self.max_total_parameters:,} (max_total_parameters): delete networks you "
                    "no longer need (DELETE /api/networks/{network_id}), build a smaller one, or "
                    "start the server with a larger max_total_parameters",
                    limit=self.max_total_parameters,
                    held=held,
                )
            self._reserved += size

    @_endpoint
    async def get_network(self, request: Request) -> Response:
        parameters = flag(request.query_params.get("parameters"), "parameters", False)
        kernels = await self._kernel_network(request)
        if kernels is not None:
            return JSONResponse(kernels)
        net = self._network(request)
        if parameters:
            return JSONResponse(await run_in_threadpool(self._network_json, net, parameters=True))
        return JSONResponse(self._network_json(net))

    @_endpoint
    async def delete_network(self, request: Request) -> Response:
        kernels = await self._kernel_network(request)
        if kernels is not None:
            raise _in_kernel(kernels, "it is deleted there (ask its owner)")
        net = self._network(request)
        try:
            self.registry.remove_network(net.network_id)
        except NetworkBusyError as exc:
            raise _busy(exc.network_id, exc.job_id) from None
        except KeyError:  # deleted meanwhile by another request
            pass
        return Response(status_code=204)

    @_endpoint
    async def train(self, request: Request) -> Response:
        kernels = await self._kernel_network(request)
        if kernels is not None:
            raise _in_kernel(
                kernels,
                "it trains there (ask its owner), or create a network at this hub "
                "(POST /api/networks) to train here",
            )
        net = self._network(request)
        options = train_options(await read_object(request, TRAIN_FIELDS))
        active = self.registry.active_job(net.network_id)
        if active is not None:
            raise _busy(net.network_id, active.job_id)
        job = await run_in_threadpool(self._make_job, net, options)
        self._submit(job)
        return JSONResponse(job.to_dict(), status_code=202)

    def _submit(self, job: TrainingJob) -> None:
        """Hand ``job`` to the admission queue, or answer why not (409, 429, 503)."""
        try:
            self.admission.submit(job)
        except NetworkBusyError as exc:
            raise _busy(exc.network_id, exc.job_id) from None
        except QueueFullError as exc:
            raise ApiError(
                429,
                None,
                f"{exc}: retry in {RETRY_AFTER_SECONDS} s (Retry-After), or cancel jobs you no "
                "longer need (POST /api/jobs/{job_id}/cancel)",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                limit=exc.max_queued,
            ) from None
        except AdmissionClosedError as exc:
            raise ApiError(503, None, f"{exc}: start it again, then retry") from None

    def _make_job(self, net: Network, options: dict[str, Any]) -> TrainingJob:
        observers = [] if self.store is None else [SaveWhenStarted(self.store)]
        try:
            data = resolve_data(options.pop("data", None))
            params = check_params(net, data, **options)
            return TrainingJob(net, data, params, observers=observers, registry=self.registry)
        except ParameterError as exc:
            raise ApiError(422, exc.field, str(exc)) from None
        except datasets.MnistUnavailableError as exc:
            raise ApiError(503, "dataset", str(exc)) from None

    @_endpoint
    async def network_jobs(self, request: Request) -> Response:
        kernels = await self._kernel_network(request)
        if kernels is not None and self.classview is not None:
            jobs = await self._class(self.classview.jobs)
            return JSONResponse([job for job in jobs if job["network_id"] == kernels["network_id"]])
        net = self._network(request)
        return JSONResponse([job.to_dict(history=False) for job in self.registry.jobs(net.network_id)])

    @_endpoint
    async def list_jobs(self, request: Request) -> Response:
        network_id = request.query_params.get("network_id")
        status = request.query_params.get("status")
        owner = request.query_params.get("owner")
        if status is not None and status not in STATUSES:
            raise ApiError(422, "status", f"status must be one of {list(STATUSES)}, got {status!r}")
        jobs = [job.to_dict(history=False) for job in self.registry.jobs(network_id)]
        store = self.store
        if store is not None:
            stored = await run_in_threadpool(self._read_store, stored_jobs, store, self.registry, network_id)
            jobs = sorted(jobs + stored, key=lambda job: job["created_at"])
        if self.classview is not None:  # kernels' runs after this process's (they have no created_at)
            known = {job["job_id"] for job in jobs}
            jobs += [
                job
                for job in await self._class(self.classview.jobs)
                if job["job_id"] not in known and network_id in (None, job["network_id"])
            ]
        if status is not None:
            jobs = [job for job in jobs if job["status"] == status]
        if owner is not None:
            jobs = [job for job in jobs if job.get("owner") == owner]
        return JSONResponse(jobs)

    @_endpoint
    async def get_job(self, request: Request) -> Response:
        history = flag(request.query_params.get("history"), "history", True)
        if self._kernels_run(request):
            view = self.classview
            assert view is not None
            return JSONResponse(await self._class(view.job, request.path_params["job_id"], history=history))
        job = await self._held_or_stored(request)
        if not isinstance(job, dict):
            return JSONResponse(job.to_dict(history=history))
        store = self.store
        assert store is not None
        return JSONResponse(
            await run_in_threadpool(self._read_store, stored_job, store, job, history=history)
        )

    async def _held_or_stored(self, request: Request) -> Job | dict[str, Any]:
        """The registry's job of the path's id, else the stored run's summary; 404 if neither."""
        job_id = request.path_params["job_id"]
        try:
            return self.registry.job(job_id)
        except KeyError:
            pass
        store = self.store
        summary: dict[str, Any] | None = None
        if store is not None:
            summary = await run_in_threadpool(self._read_store, stored_summary, store, job_id)
        if summary is None:
            raise ApiError(404, "job_id", f"no job with id {job_id!r}: GET /api/jobs lists them")
        return summary

    @staticmethod
    def _read_store(read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``read(*args)`` on the store, a file that cannot be read being a 503 naming it."""
        try:
            return read(*args, **kwargs)
        except StoreError as exc:
            raise ApiError(503, None, str(exc)) from None

    @_endpoint
    async def job_updates(self, request: Request) -> Response:
        after = _after(request.query_params.get("after"))
        if self._kernels_run(request):
            view = self.classview
            assert view is not None
            return JSONResponse(await self._class(view.updates, request.path_params["job_id"], after))
        job = await self._held_or_stored(request)
        store = self.store
        if not isinstance(job, dict):
            history = list(job.history)
            # a finished job's history may be trimmed to its last epoch: the store has it all
            if store is None or not history or history[0].epoch <= after + 1:
                return JSONResponse([r.update.to_dict() for r in history if r.epoch > after])
        assert store is not None
        job_id = job["job_id"] if isinstance(job, dict) else job.job_id
        records = await run_in_threadpool(self._read_store, store.updates, job_id, after)
        return JSONResponse([r.update.to_dict() for r in records])

    @_endpoint
    async def resume_job(self, request: Request) -> Response:
        """Resume a paused job, or an ``interrupted`` or ``cancelled`` run.

        One route, two cases: a job of this process that has not ended (paused) goes on
        from the mini-batch where it paused (200, :mod:`nnlab.server.control`); one that
        has, or a run only the store holds, goes on from its last checkpoint through the
        admission queue (202).
        """
        job_id = request.path_params["job_id"]
        if self._kernels_run(request):
            return JSONResponse(await self._ask_kernel(job_id, "resume", {}), status_code=202)
        found = await self._held_or_stored(request)
        if not isinstance(found, dict) and not found.done:  # paused (or running: no change)
            return JSONResponse(await self.control.resume(job_id))
        status = found["status"] if isinstance(found, dict) else found.status
        if status not in ("interrupted", "cancelled"):
            # not finished: a run another process is training
            why = f"has already ended ({status})" if status in FINISHED else f"is {status} in another process"
            raise ApiError(
                409,
                "job_id",
                f"job {job_id} {why}: only an interrupted or cancelled run can be resumed, "
                "from its last checkpoint",
                job_status=status,
            )
        store = self.store
        if store is None:
            raise ApiError(
                409,
                "job_id",
                f"job {job_id} has already ended ({status}) and resuming it from its last checkpoint "
                "needs the run store: this server keeps none (start it with store='path.sqlite' or "
                "`nnlab serve --store PATH`)",
                job_status=status,
            )
        job = await run_in_threadpool(self._resumed, job_id, store)
        self._submit(job)
        return JSONResponse(job.to_dict(history=False), status_code=202)

    def _resumed(self, job_id: str, store: Store) -> TrainingJob:
        try:
            return resume_job(job_id, store=store, registry=self.registry)
        except StoreError as exc:
            raise ApiError(409, "job_id", str(exc)) from None
        except KeyError:
            raise ApiError(
                409, "job_id", f"job {job_id} cannot be resumed: the run store {store.path} does not hold it"
            ) from None
        except NetworkBusyError as exc:
            raise _busy(exc.network_id, exc.job_id) from None
        except ParameterError as exc:
            raise ApiError(409, "job_id", str(exc)) from None

    @_endpoint
    async def cancel_job(self, request: Request) -> Response:
        if self._kernels_run(request):
            return JSONResponse(
                await self._ask_kernel(request.path_params["job_id"], "cancel", {}), status_code=202
            )
        job = self._job(request)
        if job.done:
            raise ApiError(
                409, "job_id", f"job {job.job_id} has already ended ({job.status}): nothing to cancel"
            )
        # A queued job ends at once; a running one stops at its next mini-batch: wait a
        # moment so the answer usually says so.
        await run_in_threadpool(self.admission.cancel, cast("TrainingJob", job))
        await run_in_threadpool(job.wait, 2.0)
        return JSONResponse(job.to_dict(history=False))

    @_endpoint
    async def pause_job(self, request: Request) -> Response:
        if self._kernels_run(request):
            return JSONResponse(
                await self._ask_kernel(request.path_params["job_id"], "pause", {}), status_code=202
            )
        return JSONResponse(await self.control.pause(request.path_params["job_id"]))

    @_endpoint
    async def update_job(self, request: Request) -> Response:
        if self._kernels_run(request):
            body = await read_object(request, PATCH_FIELDS)
            return JSONResponse(
                await self._ask_kernel(request.path_params["job_id"], "patch", body), status_code=202
            )
        self._job(request)  # 404 before looking at the body
        body = await read_object(request, PATCH_FIELDS)
        return JSONResponse(await self.control.update(request.path_params["job_id"], body))

    # ------------------------------------------------------------------ kernels' runs (a hub)
    def _kernels_run(self, request: Request) -> bool:
        """Whether the path's job is a kernel's run of the hub's class (not this process's)."""
        job_id = request.path_params["job_id"]
        if self.classview is None or not self.classview.knows(job_id):
            return False
        try:
            self.registry.job(job_id)
        except KeyError:
            return True
        return False

    async def _kernel_network(self, request: Request) -> dict[str, Any] | None:
        """The path's network when a kernel of the hub's class holds it (not this process)."""
        network_id = request.path_params["network_id"]
        if self.classview is None:
            return None
        try:
            self.registry.network(network_id)
        except KeyError:
            pass
        else:
            return None
        try:
            return cast("dict[str, Any]", await self._class(self.classview.network, network_id))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    @staticmethod
    async def _class(read: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """``await read(*args)`` on the class view; Redis down is a 503."""
        try:
            return await read(*args, **kwargs)
        except UnknownRunError as exc:
            what = "network" if read.__name__ == "network" else "job"
            raise ApiError(
                404, f"{what}_id", f"no {what} with id {exc.args[0]!r}: GET /api/{what}s lists them"
            ) from None
        except (OSError, ConnectionError) as exc:
            raise ApiError(503, None, f"the class's Redis does not answer ({exc}): retry shortly") from None
        except Exception as exc:
            if type(exc).__module__.startswith("redis"):
                raise ApiError(
                    503, None, f"the class's Redis does not answer ({exc}): retry shortly"
                ) from None
            raise

    async def _ask_kernel(self, job_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """Publish a control request to the kernel running ``job_id``; the run as it is now."""
        view = self.classview
        assert view is not None
        fields: dict[str, Any] = {}
        if action == "patch":
            unknown = [key for key in body if key not in PATCH_FIELDS]
            if unknown:
                raise ApiError(
                    422, str(unknown[0]), f"unknown field {unknown[0]!r}: the fields are {list(PATCH_FIELDS)}"
                )
            rate = body.get("learning_rate")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < float("inf"):
                raise ApiError(
                    422, "learning_rate", f"learning_rate must be a positive number such as 0.5, got {rate!r}"
                )
            action, fields = "set_learning_rate", {"learning_rate": float(rate)}
        try:
            job = await self._class(view.control, job_id, action, **fields)
        except KernelGoneError as exc:
            raise ApiError(409, "job_id", str(exc), owner=exc.owner, kernel_id=exc.kernel_id) from None
        except RunEndedError as exc:
            raise ApiError(409, "job_id", str(exc), job_status=exc.status) from None
        return cast("dict[str, Any]", job)

    @_endpoint
    async def list_datasets(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(dataset_summaries))

    @_endpoint
    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


def _after(text: str | None) -> int:
    """The ``after`` query parameter: an epoch, 0 or more (default 0: every epoch).

    >>> _after(None), _after("3")
    (0, 3)
    """
    if text is None:
        return 0
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ApiError(
            422, "after", f"after must be an epoch number, 0 or more (0: every epoch), got {text!r}"
        )
    return value


def dataset_summaries() -> list[dict[str, Any]]:
    """What ``GET /api/datasets`` shows: each name with its shape, without downloading."""
    from nnlab.datasets._mnist import MNIST_FILES, default_cache_dir

    summaries = []
    for name in datasets.available():
        if name == "digits":
            summary = {**datasets.digits().to_dict(), "ready": True, "default": True}
        elif name == "mnist":
            folder = default_cache_dir()
            summary = {
                "name": "mnist",
                "n_features": 784,
                "n_classes": 10,
                "sizes": {"train": 50_000, "validation": 10_000, "test": 10_000},
                "description": "MNIST handwritten digits, 28x28 pixels (downloaded once when first used)",
                "ready": all((folder / file).exists() for file in MNIST_FILES),
                "default": False,
            }
        else:  # pragma: no cover - a loader added later
            summary = {"name": name, "ready": None, "default": False}
        summaries.append(summary)
    return summaries
