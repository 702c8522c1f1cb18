"""Array aliases, with nnlab's shape convention stated once.

Batches hold one example per row: ``X`` is ``(m, n_features)``, labels ``y`` are
``(m,)`` ints, activations are ``(m, n_units)``. Layer ``l`` has weights
``(n_out, n_in)`` and biases ``(n_out,)``, as in Nielsen's book (which keeps a column
per example; nnlab keeps a row per example so a mini-batch is one matrix product).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.integer[Any]]
