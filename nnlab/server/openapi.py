"""The OpenAPI 3.1 document served at ``GET /openapi.json``: every REST route, its body,
its answers and its errors, plus the Socket.IO events in ``x-socketio-events``.

Every ``/api/`` route and this document answer 401 when the server has a token and the
request lacks it (``components.securitySchemes``; on loopback without a token all is open).
"""

from __future__ import annotations

from typing import Any

from nnlab.events import DIAGNOSTICS_EVENT, STATUS_EVENT, STATUSES, UPDATE_EVENT
from nnlab.server.admission import DEFAULT_MAX_QUEUED_JOBS
from nnlab.server.auth import PROTECTED_PREFIXES
from nnlab.server.bodies import DEFAULT_MAX_TOTAL_PARAMETERS, MAX_BODY_BYTES

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STRING = {"type": ["string", "null"]}

_NETWORK_ID = {
    "name": "network_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The network's id (a UUID)",
}
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The job's id (a UUID)",
}

_TRAINING_UPDATE = {
    "type": "object",
    "description": "The contract's training_update payload: one finished epoch of one run.",
    "required": [
        "job_id",
        "network_id",
        "epoch",
        "total_epochs",
        "accuracy",
        "elapsed_time",
        "progress",
    ],
    "properties": {
        "job_id": {"type": "string"},
        "network_id": {"type": "string"},
        "epoch": {"type": "integer", "minimum": 1, "description": "1-based"},
        "total_epochs": {"type": "integer", "minimum": 1},
        "accuracy": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "elapsed_time": {"type": "number", "description": "seconds this epoch took"},
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "correct": {"type": "integer", "description": "present when evaluated"},
        "total": {"type": "integer", "description": "present when evaluated"},
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "field"],
        "properties": {
            "error": {"type": "string", "description": "what is wrong and how to fix it"},
            "field": {
                "type": ["string", "null"],
                "description": "the body field or parameter at fault ('body' for the body itself)",
            },
            "job_id": {"type": "string", "description": "409 on a busy network: the job training it"},
            "limit": {
                "type": "integer",
                "description": "429: max_queued_jobs; 413 on a new network: max_total_parameters",
            },
            "held": {
                "type": "integer",
                "description": "413 on a new network: weights and biases the server holds already",
            },
            "job_status": {
                "type": "string",
                "description": "409 on pause, resume or a new learning rate: the status the job ended with",
            },
        },
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {
                "enum": ["ok", "degraded"],
                "description": "degraded while the Socket.IO mirror's rounds fail",
            },
            "version": {"type": "string"},
            "clients": {"type": "integer", "description": "connected Socket.IO clients"},
            "networks": {"type": "integer"},
            "jobs": {"type": "integer"},
            "running_jobs": {"type": "integer"},
            "mirror": {
                "type": ["object", "null"],
                "description": "the Socket.IO fan-out's counts since the server started",
                "properties": {
                    "sent": {"type": "integer"},
                    "coalesced": {
                        "type": "integer",
                        "description": "events a slow client will never get, replaced by newer ones "
                        "(updates only when their job's history is kept nowhere)",
                    },
                    "dropped": {"type": "integer", "description": "events lost in failed rounds"},
                    "errors": {"type": "integer", "description": "failed rounds"},
                    "last_error": {"type": ["string", "null"]},
                    "last_error_at": {"type": ["number", "null"], "description": "Unix time"},
                    "failing": {"type": "boolean"},
                },
            },
            "histories": {
                "type": "object",
                "description": "finished jobs keeping their full history in memory",
                "properties": {
                    "keep_histories": {"type": ["integer", "null"]},
                    "full_histories": {"type": "integer"},
                    "trimmed": {"type": "integer"},
                },
            },
            "store": {
                "type": ["object", "null"],
                "description": "the run store (null when off): its file, whether runs are being "
                "saved, and why not",
                "properties": {
                    "path": {"type": "string"},
                    "saving": {"type": "boolean"},
                    "failure": _NULLABLE_STRING,
                },
            },
        },
    },
    "NetworkCreate": {
        "type": "object",
        "required": ["sizes"],
        "additionalProperties": False,
        "properties": {
            "sizes": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1},
                "minItems": 2,
                "description": "neurons per layer, inputs first, e.g. [64, 30, 10]; "
                "at most 25,000,000 weights and biases",
            },
            "activation": {
                "enum": ["sigmoid", "tanh", "relu"],
                "default": "sigmoid",
                "description": "the hidden neurons",
            },
            "output": {"enum": ["sigmoid", "softmax"], "default": "sigmoid"},
            "cost": {
                "enum": ["cross_entropy", "quadratic", "log_likelihood"],
                "description": "default cross_entropy; log_likelihood for (and only for) a softmax output",
            },
            "init": {"enum": ["default", "large"], "default": "default"},
            "seed": {"type": ["integer", "null"], "minimum": 0, "default": None},
            "dtype": {"enum": ["float64", "float32"], "default": "float64"},
        },
    },
    "Network": {
        "type": "object",
        "properties": {
            "network_id": {"type": "string"},
            "sizes": {"type": "array", "items": {"type": "integer"}},
            "activation": {"type": "string"},
            "output": {"type": "string"},
            "cost": {"type": "string"},
            "init": {"type": "string"},
            "seed": _NULLABLE_INT,
            "dtype": {"type": "string"},
            "n_parameters": {"type": "integer"},
            "epochs_trained": {"type": "integer"},
            "active_job_id": {**_NULLABLE_STRING, "description": "the job training it now, if any"},
            "job_ids": {"type": "array", "items": {"type": "string"}},
            "weights": {
                "type": "array",
                "description": "only with ?parameters=true: per layer, (n_out, n_in)",
            },
            "biases": {"type": "array", "description": "only with ?parameters=true: per layer, (n_out,)"},
        },
    },
    "TrainRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "epochs": {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 10},
            "mini_batch_size": {"type": "integer", "minimum": 1, "default": 10},
            "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 3.0},
            "lmbda": {
                "type": "number",
                "minimum": 0,
                "default": 0.0,
                "description": "regularisation strength",
            },
            "regularization": {"enum": ["l2", "l1"], "default": "l2"},
            "dropout": {
                "type": "number",
                "minimum": 0,
                "exclusiveMaximum": 1,
                "default": 0.0,
                "description": "share of hidden neurons dropped per mini-batch (inverted dropout)",
            },
            "momentum": {
                "type": "number",
                "minimum": 0,
                "exclusiveMaximum": 1,
                "default": 0.0,
                "description": "momentum coefficient mu: v <- mu v - learning_rate grad; w <- w + v",
            },
            "diagnostics": {
                "type": "boolean",
                "default": False,
                "description": "record per-layer learning speed, saturation and norms in the history",
            },
            "seed": {"type": ["integer", "null"], "minimum": 0, "description": "shuffles; random if null"},
            "dataset": {"enum": ["digits", "mnist"], "default": "digits"},
            "evaluate_on": {"enum": ["test", "validation", None], "default": "test"},
            "early_stopping": {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "stop after this many epochs without a better validation accuracy",
            },
            "lr_schedule": {"enum": ["halve_on_plateau", None], "default": None},
            "training_cost": {
                "enum": ["running", "full"],
                "default": "running",
                "description": "running: from the epoch's mini-batches, as the weights changed; "
                "full: a pass over the training set after each epoch",
            },
        },
    },
    "TrainingUpdate": _TRAINING_UPDATE,
    "EpochRecord": {
        "allOf": [
            _ref("TrainingUpdate"),
            {
                "type": "object",
                "properties": {
                    "training_cost": {"type": "number"},
                    "training_accuracy": _NULLABLE_NUMBER,
                    "evaluation_cost": _NULLABLE_NUMBER,
                    "validation_cost": _NULLABLE_NUMBER,
                    "validation_accuracy": _NULLABLE_NUMBER,
                    "learning_rate": {
                        "type": "number",
                        "description": "the rate the epoch's last mini-batch used",
                    },
                    "diagnostics": {
                        "type": ["object", "null"],
                        "description": "with diagnostics=true: per-layer lists, input side first",
                        "properties": {
                            name: {"type": "array", "items": {"type": "number"}}
                            for name in ("learning_speed", "saturation", "weight_norm", "gradient_norm")
                        },
                    },
                },
            },
        ]
    },
    "Job": {
        "type": "object",
        "properties": {
            "job_id": {"type": "string"},
            "network_id": {"type": "string"},
            "status": {"enum": list(STATUSES)},
            "parameters": {"type": "object", "description": "the validated TrainRequest"},
            "epochs_completed": {"type": "integer"},
            "total_epochs": {"type": "integer"},
            "latest": {"oneOf": [_ref("TrainingUpdate"), {"type": "null"}]},
            "error": _NULLABLE_STRING,
            "stop_reason": {
                **_NULLABLE_STRING,
                "description": "early_stopping, learning_rate_schedule, cancelled, interrupted, "
                "diverged or error",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": {**_NULLABLE_STRING, "format": "date-time"},
            "finished_at": {**_NULLABLE_STRING, "format": "date-time"},
            "elapsed_time": {
                **_NULLABLE_NUMBER,
                "description": "seconds the run took, time paused left out",
            },
            "paused_time": {"type": "number", "description": "seconds the run has spent paused"},
            "hints": {
                "type": "array",
                "items": {"type": "string"},
                "description": "advice about the run (accuracy stuck at chance, ...); empty when all is well",
            },
            "saved": {
                "type": "boolean",
                "description": "whether the run is being kept in the run store (false: store off or failing)",
            },
            "learning_rate": {
                "type": "number",
                "description": "the rate the next mini-batch uses (PATCH changes it; "
                "parameters.learning_rate keeps the one asked for)",
            },
            "history": {
                "type": "array",
                "items": _ref("EpochRecord"),
                "description": "every finished epoch (left out of lists and with ?history=false)",
            },
        },
    },
    "JobPatch": {
        "type": "object",
        "required": ["learning_rate"],
        "additionalProperties": False,
        "properties": {
            "learning_rate": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "used from the job's next mini-batch on (at once if queued or paused)",
            }
        },
    },
    "ControlAck": {
        "type": "object",
        "description": "The acknowledgement of pause_job, resume_job and set_learning_rate.",
        "required": ["ok"],
        "properties": {
            "ok": {"type": "boolean"},
            "job": {**_ref("Job"), "description": "when ok: the job (without history)"},
            "code": {"type": "integer", "description": "when not ok: the HTTP-style status (404, 409, 422)"},
            "error": {"type": "string", "description": "when not ok: what is wrong and how to fix it"},
            "field": {"type": ["string", "null"], "description": "when not ok: the field at fault"},
        },
    },
    "Dataset": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "n_features": {"type": "integer"},
            "n_classes": {"type": "integer"},
            "sizes": {"type": "object", "additionalProperties": {"type": "integer"}},
            "description": {"type": "string"},
            "ready": {"type": "boolean", "description": "usable without a download"},
            "default": {"type": "boolean"},
        },
    },
    "TrainingStatus": {
        "type": "object",
        "description": "The training_status Socket.IO payload.",
        "properties": {
            "job_id": {"type": "string"},
            "network_id": {"type": "string"},
            "status": {"enum": list(STATUSES)},
            "epoch": {"type": "integer", "description": "epochs finished so far"},
            "total_epochs": {"type": "integer"},
            "error": _NULLABLE_STRING,
            "stop_reason": _NULLABLE_STRING,
        },
    },
}

_BAD_BODY = {
    "400": _error("malformed JSON"),
    "413": _error(f"body larger than {MAX_BODY_BYTES:,} bytes"),
    "422": _error("a field is missing, unknown, of the wrong type or out of range"),
}

#: Who and where a run trains (kernels' runs on a classroom hub carry them too).
_IDENTITY = {
    "owner": {**_NULLABLE_STRING, "description": "who runs it (JUPYTERHUB_USER, else the OS user)"},
    "host": {**_NULLABLE_STRING, "description": "the machine it trains on"},
    "kernel_id": {**_NULLABLE_STRING, "description": "the process it trains in"},
}
for _name in ("Job", "Network", "TrainingStatus"):
    _SCHEMAS[_name]["properties"].update(_IDENTITY)
_SCHEMAS["TrainingStatus"]["properties"]["sizes"] = {
    "type": "array",
    "items": {"type": "integer"},
    "description": "the network's layer sizes (extra field, sent when known)",
}
_SCHEMAS["Health"]["properties"]["redis"] = {
    "type": ["object", "null"],
    "description": "a classroom hub's Redis (null when not a hub): its URL with the password "
    "hidden, the class (channel), whether it answers and the last error",
    "properties": {
        "url": {"type": "string"},
        "channel": {"type": "string"},
        "connected": {"type": "boolean"},
        "last_error": _NULLABLE_STRING,
        "last_error_at": {"type": ["number", "null"], "description": "Unix time"},
        "released": {"type": "integer", "description": "kernels' events handed to clients"},
        "coalesced": {"type": "integer", "description": "kernels' epochs skipped by a too long gap fill"},
        "interrupted": {"type": "integer", "description": "runs this hub marked interrupted"},
    },
}

#: A kernel's run on a classroom hub: the request is sent to that kernel.
_TO_KERNEL = _json(
    _ref("Job"),
    "a kernel's run (classroom hub): the request was sent to its kernel, which acts at the "
    "next mini-batch; clients see the change as training_status",
)
_KERNEL_GONE = (
    "; on a classroom hub also: the run's kernel no longer sends heartbeats (the error names "
    "its owner and kernel_id, also given as fields)"
)

_PATHS: dict[str, Any] = {
    "/api/health": {
        "get": {
            "summary": "Server status",
            "operationId": "health",
            "responses": {"200": _json(_ref("Health"), "the server is up")},
        }
    },
    "/api/networks": {
        "get": {
            "summary": "List networks",
            "description": "Networks created here and those trained or registered in the notebook; "
            "with a run store, also the networks of every stored run (other kernels' and runs "
            "from before a restart), each as its newest run left it. On a classroom hub, also "
            "every kernel's network (network_id, sizes, owner, host, kernel_id, its jobs).",
            "operationId": "listNetworks",
            "responses": {"200": _json(_array("Network"), "every network, oldest first")},
        },
        "post": {
            "summary": "Create a network",
            "operationId": "createNetwork",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("NetworkCreate")}},
            },
            "responses": {
                "201": _json(_ref("Network"), "the new network"),
                **_BAD_BODY,
                "413": _error(
                    f"body larger than {MAX_BODY_BYTES:,} bytes (field 'body'), or the networks "
                    "held would exceed the server's max_total_parameters weights and biases "
                    f"(field 'sizes'; default {DEFAULT_MAX_TOTAL_PARAMETERS:,}): delete networks"
                ),
            },
        },
    },
    "/api/networks/{network_id}": {
        "parameters": [_NETWORK_ID],
        "get": {
            "summary": "Get a network",
            "operationId": "getNetwork",
            "parameters": [
                {
                    "name": "parameters",
                    "in": "query",
                    "schema": {"type": "boolean", "default": False},
                    "description": "include weights and biases",
                }
            ],
            "responses": {
                "200": _json(_ref("Network"), "the network"),
                "404": _error("no such network"),
                "422": _error("bad query parameter"),
            },
        },
        "delete": {
            "summary": "Delete a network (its jobs stay listed)",
            "operationId": "deleteNetwork",
            "responses": {
                "204": {"description": "deleted"},
                "404": _error("no such network"),
                "409": _error(
                    "the network is training: cancel its job first; on a classroom hub also: the "
                    "network lives in a kernel (the error names its owner and kernel_id)"
                ),
            },
        },
    },
    "/api/networks/{network_id}/train": {
        "parameters": [_NETWORK_ID],
        "post": {
            "summary": "Start training a network in the background",
            "description": "Answers at once; follow the job over Socket.IO (training_update, "
            "training_status) or by polling GET /api/jobs/{job_id}. At most max_running_jobs "
            "REST jobs train at once (default: the number of CPUs); the job waits with status "
            "queued, first in first out, until a slot frees.",
            "operationId": "trainNetwork",
            "requestBody": {"content": {"application/json": {"schema": _ref("TrainRequest")}}},
            "responses": {
                "202": _json(_ref("Job"), "the job, queued or running"),
                "404": _error("no such network"),
                "409": _error(
                    "the network is already training or queued; on a classroom hub also: the "
                    "network lives in a kernel (the error names its owner and kernel_id, also "
                    "given as fields), where it trains"
                ),
                "429": {
                    **_error(
                        f"max_queued_jobs (default {DEFAULT_MAX_QUEUED_JOBS}) jobs already wait "
                        "for a slot: retry later"
                    ),
                    "headers": {
                        "Retry-After": {
                            "description": "seconds to wait before retrying",
                            "schema": {"type": "integer"},
                        }
                    },
                },
                "503": _error("the dataset cannot be loaded (e.g. MNIST offline), or the server is stopping"),
                **_BAD_BODY,
            },
        },
    },
    "/api/networks/{network_id}/jobs": {
        "parameters": [_NETWORK_ID],
        "get": {
            "summary": "List a network's jobs",
            "operationId": "listNetworkJobs",
            "responses": {
                "200": _json(_array("Job"), "its jobs without history, oldest first"),
                "404": _error("no such network"),
            },
        },
    },
    "/api/jobs": {
        "get": {
            "summary": "List jobs",
            "description": "This process's jobs and, with a run store, every stored run: other "
            "kernels' runs and those from before a restart (status interrupted when their "
            "process died). On a classroom hub, also the runs of every kernel of the class "
            "(after this process's; interrupted when their kernel's heartbeat stopped).",
            "operationId": "listJobs",
            "parameters": [
                {"name": "network_id", "in": "query", "schema": {"type": "string"}},
                {"name": "owner", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"enum": list(STATUSES)},
                },
            ],
            "responses": {
                "200": _json(_array("Job"), "jobs without history, oldest first"),
                "422": _error("unknown status"),
            },
        }
    },
    "/api/jobs/{job_id}": {
        "parameters": [_JOB_ID],
        "get": {
            "summary": "Get a job with its full per-epoch history (the polling fallback); "
            "a stored run too, e.g. one interrupted before a restart",
            "operationId": "getJob",
            "parameters": [
                {"name": "history", "in": "query", "schema": {"type": "boolean", "default": True}}
            ],
            "responses": {
                "200": _json(_ref("Job"), "the job"),
                "404": _error("no such job"),
                "422": _error("bad query parameter"),
            },
        },
        "patch": {
            "summary": "Change a job's learning rate from its next mini-batch on",
            "description": "A queued or paused job takes it at once. Each epoch's record "
            "holds the rate its last mini-batch used.",
            "operationId": "updateJob",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("JobPatch")}},
            },
            "responses": {
                "200": _json(_ref("Job"), "the job, usually with the new learning_rate"),
                "202": _TO_KERNEL,
                "404": _error("no such job"),
                "409": _error("the job has already ended (field 'job_id')" + _KERNEL_GONE),
                **_BAD_BODY,
            },
        },
    },
    "/api/jobs/{job_id}/cancel": {
        "parameters": [_JOB_ID],
        "post": {
            "summary": "Cancel a job: a queued one ends at once without starting, a running "
            "or paused one stops at its next mini-batch, keeping its history",
            "operationId": "cancelJob",
            "responses": {
                "200": _json(_ref("Job"), "the job, usually already cancelled"),
                "202": _TO_KERNEL,
                "404": _error("no such job"),
                "409": _error("the job has already ended" + _KERNEL_GONE),
            },
        },
    },
    "/api/jobs/{job_id}/updates": {
        "parameters": [_JOB_ID],
        "get": {
            "summary": "The training_update payloads after an epoch (to catch up after a reconnect)",
            "description": "From memory for this process's jobs, from the run store for the rest.",
            "operationId": "jobUpdates",
            "parameters": [
                {
                    "name": "after",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                    "description": "the last epoch already seen (0: every epoch)",
                }
            ],
            "responses": {
                "200": _json(_array("TrainingUpdate"), "the updates after that epoch, in order"),
                "404": _error("no such job"),
                "422": _error("after is not an integer 0 or more (field 'after')"),
            },
        },
    },
    "/api/jobs/{job_id}/pause": {
        "parameters": [_JOB_ID],
        "post": {
            "summary": "Pause a job at its next mini-batch (a queued job starts paused); "
            "pausing a paused job changes nothing",
            "description": "A paused job keeps its slot and its network. Clients see "
            "training_status 'paused'; time paused is left out of elapsed_time.",
            "operationId": "pauseJob",
            "responses": {
                "200": _json(_ref("Job"), "the job, usually already paused"),
                "202": _TO_KERNEL,
                "404": _error("no such job"),
                "409": _error("the job has already ended (field 'job_id')" + _KERNEL_GONE),
            },
        },
    },
    "/api/jobs/{job_id}/resume": {
        "parameters": [_JOB_ID],
        "post": {
            "summary": "Resume a job: a paused one from the mini-batch where it paused, an "
            "interrupted or cancelled stored run from its last checkpoint",
            "description": "A paused job of this process goes on at once (200; clients see "
            "training_status 'running' again; resuming a running job changes nothing). A run that "
            "has ended interrupted or cancelled -- this process's, or one only the run store "
            "holds, e.g. from before a restart -- goes on as the same job through the server's "
            "queue like any REST job (202): its epochs go on from the checkpoint's, total_epochs "
            "stays.",
            "operationId": "resumeJob",
            "responses": {
                "200": _json(_ref("Job"), "the paused job, usually running again"),
                "202": _json(
                    _ref("Job"),
                    "the stored run, queued or running; or a kernel's paused run (classroom hub), "
                    "the request sent to its kernel",
                ),
                "404": _error("no such job"),
                "409": _error(
                    "the run cannot be resumed, and the error says why (field 'job_id'): it "
                    "completed or failed, the server keeps no run store, or its network is busy"
                    + _KERNEL_GONE
                ),
                "429": _error("the training queue is full: retry later (Retry-After)"),
                "503": _error("the server is stopping"),
            },
        },
    },
    "/api/datasets": {
        "get": {
            "summary": "List the datasets a network can be trained on",
            "operationId": "listDatasets",
            "responses": {"200": _json(_array("Dataset"), "digits (bundled, default) and mnist")},
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1 document"}},
        }
    },
    "/test_socketio.html": {
        "get": {
            "summary": "A self-contained page that shows live training and starts one",
            "operationId": "testPage",
            "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
        }
    },
}

_EVENTS = {
    UPDATE_EVENT: {
        "payload": _ref("TrainingUpdate"),
        "when": "after every epoch of every run in the process and, with a run store, of "
        "every run other processes write to it (on a classroom hub: of every kernel of the "
        "class). A client connecting with auth {since: {job_id: last epoch seen}} first gets "
        "every update of those jobs after those epochs, in order. A client connecting with "
        "auth (or query) {owner}, {network_id} or {job_id} gets the events of the matching "
        "runs only",
    },
    STATUS_EVENT: {
        "payload": _ref("TrainingStatus"),
        "when": "when a REST job has to wait for a slot (queued), when a run starts (running), "
        "pauses (paused), resumes (running) and ends (completed, failed, cancelled); on a "
        "classroom hub also interrupted, when a kernel's heartbeat stops mid-run",
    },
    DIAGNOSTICS_EVENT: {
        "payload": {
            "type": "object",
            "description": "The chapter 5 measures of one epoch, one number per weight layer, input "
            "side first: learning_speed ||dC/db||, saturation (share of saturated neurons, or of "
            "dead ReLU units), weight_norm ||w||, gradient_norm ||dC/dw||.",
            "required": [
                "job_id",
                "network_id",
                "epoch",
                "learning_speed",
                "saturation",
                "weight_norm",
                "gradient_norm",
            ],
            "properties": {
                "job_id": {"type": "string"},
                "network_id": {"type": "string"},
                "epoch": {"type": "integer", "minimum": 1},
                **{
                    name: {"type": "array", "items": {"type": "number"}}
                    for name in ("learning_speed", "saturation", "weight_norm", "gradient_norm")
                },
            },
        },
        "when": "after the training_update of every epoch of a run trained with diagnostics=true",
    },
}

#: Events a client may send (none is needed); each is acknowledged with a ControlAck.
_CLIENT_EVENTS = {
    "pause_job": {
        "payload": {"type": "object", "required": ["job_id"], "properties": {"job_id": {"type": "string"}}},
        "ack": _ref("ControlAck"),
        "does": "as POST /api/jobs/{job_id}/pause",
    },
    "resume_job": {
        "payload": {"type": "object", "required": ["job_id"], "properties": {"job_id": {"type": "string"}}},
        "ack": _ref("ControlAck"),
        "does": "as POST /api/jobs/{job_id}/resume",
    },
    "set_learning_rate": {
        "payload": {
            "type": "object",
            "required": ["job_id", "learning_rate"],
            "properties": {
                "job_id": {"type": "string"},
                "learning_rate": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        "ack": _ref("ControlAck"),
        "does": "as PATCH /api/jobs/{job_id} with {learning_rate}",
    },
}


_UNAUTHORIZED = _error("the server has a token and the request lacks it or has a wrong one (field 'token')")
for _path, _operations in _PATHS.items():
    if _path.startswith(PROTECTED_PREFIXES):
        for _method, _operation in _operations.items():
            if _method != "parameters":
                _operation["responses"]["401"] = _UNAUTHORIZED

_SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer <token>, needed when the server was started "
        "with a token (always off loopback)",
    },
    "tokenQuery": {"type": "apiKey", "in": "query", "name": "token", "description": "?token=<token>"},
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the REST API (treat it as read-only).

    >>> sorted(openapi_document()["paths"])[:3]
    ['/api/datasets', '/api/health', '/api/jobs']
    """
    from nnlab import __version__

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nnlab",
            "version": __version__,
            "description": "Create and train small sigmoid networks; follow training live over "
            "Socket.IO (path /socket.io/, events in x-socketio-events; no client-to-server event is "
            "needed, those in x-socketio-client-events pause, resume or change the learning rate "
            "of a job). CORS allows every origin. Errors are JSON {error, field}. A server with a "
            "token (required off loopback) wants it on REST calls (Authorization: Bearer, or "
            "?token=) and Socket.IO connections (auth: {token}); refusals are 401.",
        },
        # Open (the empty requirement) on loopback without a token; else either scheme.
        "security": [{}, {"bearer": []}, {"tokenQuery": []}],
        "paths": _PATHS,
        "components": {"schemas": _SCHEMAS, "securitySchemes": _SECURITY_SCHEMES},
        "x-socketio-events": _EVENTS,
        "x-socketio-client-events": _CLIENT_EVENTS,
    }
