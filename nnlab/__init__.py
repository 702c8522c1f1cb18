"""nnlab: small neural networks in numpy, trained live in Jupyter and mirrored outside.

Reading order: :mod:`nnlab.network` (the maths), :mod:`nnlab.datasets` (the data),
:mod:`nnlab.params` (a run's parameters), :mod:`nnlab.training` (the one training loop),
:mod:`nnlab.events` (what each epoch produces: the wire contract), :mod:`nnlab.observers`
(who watches it), :mod:`nnlab.launch` (``train()``, and the runs of this process),
:mod:`nnlab.store` (runs kept on disk: ``nnlab.runs()``, ``nnlab.run(job_id)``,
``nnlab.resume(job_id)``).

>>> import nnlab
>>> net = nnlab.Network([64, 30, 10], seed=0)
>>> job = nnlab.train(net, nnlab.datasets.digits(), epochs=1, seed=0)
>>> job.status
'completed'
"""

from __future__ import annotations

from nnlab import datasets
from nnlab.costs import CrossEntropyCost, QuadraticCost
from nnlab.datasets import Dataset
from nnlab.events import EpochRecord, TrainingStatus, TrainingUpdate
from nnlab.hub.connect import HubWarning, connect, disconnect, hub_status
from nnlab.launch import jobs, last_job, networks, resume, run, runs, train
from nnlab.network import Network
from nnlab.notify import ObserverWarning
from nnlab.observers import Observer
from nnlab.params import HalveOnPlateau, ParameterError
from nnlab.registry import NetworkBusyError
from nnlab.store import StoreWarning
from nnlab.training import JobStateError, TrainingJob

__version__ = "0.1.0"

__all__ = [
    "CrossEntropyCost",
    "Dataset",
    "EpochRecord",
    "HalveOnPlateau",
    "HubWarning",
    "JobStateError",
    "Network",
    "NetworkBusyError",
    "Observer",
    "ObserverWarning",
    "ParameterError",
    "QuadraticCost",
    "StoreWarning",
    "TrainingJob",
    "TrainingStatus",
    "TrainingUpdate",
    "connect",
    "datasets",
    "disconnect",
    "hub_status",
    "jobs",
    "last_job",
    "networks",
    "resume",
    "run",
    "runs",
    "serve",
    "train",
    "watch",
]

# The server stack and the widget view import heavy packages: load them on first use.
_LAZY = {"serve": "nnlab.server", "watch": "nnlab.live"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nnlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
