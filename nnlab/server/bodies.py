"""Reading and checking REST input: every problem becomes an :class:`ApiError` naming the field.

Bodies are JSON objects of at most ``MAX_BODY_BYTES``; unknown fields are refused (with a
suggestion when one is close), so a typo such as ``"epoch"`` never silently trains with
defaults. Nothing here changes stored state: checks run before anything is created.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from nnlab import datasets
from nnlab.costs import get_cost
from nnlab.network import MAX_PARAMETERS, check_sizes
from nnlab.params import ParameterError, check_architecture, check_seed

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "DEFAULT_MAX_TOTAL_PARAMETERS",
    "MAX_BODY_BYTES",
    "NETWORK_FIELDS",
    "TRAIN_FIELDS",
    "ApiError",
    "flag",
    "network_options",
    "read_object",
    "train_options",
]

#: Largest request body accepted (the API's bodies are a few hundred bytes).
MAX_BODY_BYTES = 64 * 1024
#: Weights and biases all networks held by a server may total by default (400 MB in
#: float64): twice the largest single network.
DEFAULT_MAX_TOTAL_PARAMETERS = 2 * MAX_PARAMETERS

#: Fields of ``POST /api/networks``.
NETWORK_FIELDS = ("sizes", "activation", "output", "cost", "init", "seed", "dtype")
#: Fields of ``POST /api/networks/{network_id}/train``.
TRAIN_FIELDS = (
    "epochs",
    "mini_batch_size",
    "learning_rate",
    "lmbda",
    "seed",
    "dataset",
    "evaluate_on",
    "early_stopping",
    "lr_schedule",
    "training_cost",
    "regularization",
    "dropout",
    "momentum",
    "diagnostics",
)


class ApiError(Exception):
    """A request the API refuses: HTTP ``status``, the offending ``field`` and why
    (``headers`` go on the response, e.g. ``Retry-After``; other keywords into the JSON).

    >>> ApiError(422, "epochs", "epochs must be a positive int").to_dict()
    {'error': 'epochs must be a positive int', 'field': 'epochs'}
    """

    def __init__(
        self,
        status: int,
        field: str | None,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message
        self.headers = headers
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": self.message, "field": self.field, **self.extra}


def _too_large(size: int | None = None) -> ApiError:
    got = f" ({size:,} bytes)" if size is not None else ""
    return ApiError(
        413,
        "body",
        f"the request body is too large{got}: the limit is {MAX_BODY_BYTES:,} bytes of JSON",
    )


async def read_object(request: Request, allowed: Collection[str]) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty), checked for unknown fields."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise _too_large(int(length))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        return {}
    return parse_object(body, allowed)


def parse_object(body: bytes, allowed: Collection[str]) -> dict[str, Any]:
    """Parse a JSON object body; ``ApiError`` for malformed JSON, non-objects, unknown fields.

    >>> parse_object(b'{"epochs": 3}', TRAIN_FIELDS)
    {'epochs': 3}
    >>> parse_object(b'{"epoch": 3}', TRAIN_FIELDS)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nnlab.server.bodies.ApiError: unknown field 'epoch': did you mean 'epochs'? ...
    """
    try:
        data = json.loads(body)
    except RecursionError:
        raise ApiError(400, "body", "the request body is nested too deeply to be read") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ApiError(
            400, "body", f"the request body is not valid JSON ({exc}): send a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            422,
            "body",
            f"the request body must be a JSON object with fields {list(allowed)}, "
            f"got a JSON {_json_type(data)}",
        )
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ApiError(422, str(key), f"unknown field {key!r}: {hint}the fields are {list(allowed)}")
    return data


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _choice(body: dict[str, Any], field: str, choices: Collection[str], default: str) -> str:
    value = body.get(field, default)
    if not isinstance(value, str) or value not in choices:
        raise ApiError(422, field, f"{field} must be one of {list(choices)}, got {value!r}")
    return value


def network_options(body: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``Network`` from a ``POST /api/networks`` body.

    ``cost`` defaults to ``"log_likelihood"`` for a softmax output, else ``"cross_entropy"``.

    >>> network_options({"sizes": [64, 30, 10], "seed": 1})  # doctest: +NORMALIZE_WHITESPACE
    {'sizes': (64, 30, 10), 'activation': 'sigmoid', 'output': 'sigmoid', 'cost': 'cross_entropy',
     'init': 'default', 'dtype': 'float64', 'seed': 1}
    """
    if "sizes" not in body:
        raise ApiError(422, "sizes", "sizes is required: layer sizes such as [64, 30, 10]")
    try:
        sizes = check_sizes(body["sizes"])
    except ValueError as exc:
        raise ApiError(422, "sizes", str(exc)) from None
    activation = _choice(body, "activation", ("sigmoid", "tanh", "relu"), "sigmoid")
    output = _choice(body, "output", ("sigmoid", "softmax"), "sigmoid")
    cost = body.get("cost", "log_likelihood" if output == "softmax" else "cross_entropy")
    try:
        if not isinstance(cost, str):
            raise ValueError(f"cost must be a name such as 'cross_entropy', got {cost!r}")
        get_cost(cost)
        check_architecture(activation, output, cost)
    except ValueError as exc:
        raise ApiError(422, "cost", str(exc)) from None
    options: dict[str, Any] = {
        "sizes": sizes,
        "activation": activation,
        "output": output,
        "cost": cost,
        "init": _choice(body, "init", ("default", "large"), "default"),
        "dtype": _choice(body, "dtype", ("float64", "float32"), "float64"),
    }
    try:
        options["seed"] = check_seed("seed", body.get("seed"))
    except ParameterError as exc:
        raise ApiError(422, exc.field, str(exc)) from None
    return options


def train_options(body: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``TrainingJob`` from a train body (values are checked there,
    except the dataset name, checked here so that nothing is loaded for a typo).

    >>> train_options({"epochs": 5, "dataset": "digits"})
    {'epochs': 5, 'data': 'digits'}
    """
    options = {key: value for key, value in body.items() if key != "dataset"}
    if "dataset" in body:
        name = body["dataset"]
        if not isinstance(name, str) or name not in datasets.available():
            raise ApiError(422, "dataset", f"dataset must be one of {datasets.available()}, got {name!r}")
        options["data"] = name
    return options


def flag(value: str | None, field: str, default: bool) -> bool:
    """A boolean query parameter: ``true``/``false`` (also ``1``/``0``).

    >>> flag("true", "history", False), flag(None, "history", True)
    (True, True)
    """
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ApiError(422, field, f"{field} must be true or false, got {value!r}")
