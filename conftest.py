"""pytest configuration for the whole repository: the tutorial notebooks' kernels.

Each notebook runs under nbval in a fresh kernel (see notebooks/README.md). The kernels
get ``NNLAB_STABLE_OUTPUT=1``, so the live view and text progress leave timings out of
their output, and one BLAS thread each. The variables are set only while nbval sets up
a notebook's cell (the first one starts the kernel), so every other test sees the
environment unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

KERNEL_ENV = {
    "NNLAB_STABLE_OUTPUT": "1",
    # The notebooks multiply small matrices: a second BLAS thread gains little on them and,
    # on a busy two-core machine, spins against the other kernels and test processes.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Set ``KERNEL_ENV`` while a notebook cell is set up; leave other tests alone."""
    if item.path.suffix != ".ipynb":
        yield
        return
    saved = {name: os.environ.get(name) for name in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
