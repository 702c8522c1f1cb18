"""pytest configuration for the whole suite (tests/ and the notebooks under nbval).

Each notebook runs under nbval in a fresh kernel (see notebooks/README.md), its cells
together and in order. The kernels get ``NNLAB_STABLE_OUTPUT=1``, so the live view and
text progress leave timings out of their output, and one BLAS thread each. The
variables are set only while nbval sets up a notebook's cell (the first one starts the
kernel), so every other test sees the environment unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Runs of the suite stay in memory (the store's own tests pass store=... files); set before
# any test or nbval kernel starts, so doctests and notebook kernels inherit it.
os.environ["NNLAB_STORE"] = "off"

KERNEL_ENV = {
    "NNLAB_STABLE_OUTPUT": "1",
    # The notebooks multiply small matrices: a second BLAS thread gains little on them and,
    # on a busy two-core machine, spins against the other kernels and test processes.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each notebook's cells together and in order, whatever order the rest runs in.

    A notebook is one story told cell by cell in one kernel; a plugin that shuffles tests
    (``pytest -p randomly``, as CI's second pass runs) may move notebooks, never their cells.
    """
    cells: dict[object, list[pytest.Item]] = {}
    for item in items:
        if hasattr(item, "cell_num"):
            cells.setdefault(item.parent, []).append(item)
    if not cells:
        return
    ordered: list[pytest.Item] = []
    for item in items:
        notebook = cells.get(item.parent) if hasattr(item, "cell_num") else None
        if notebook is None:
            ordered.append(item)
        elif item is notebook[0]:
            ordered.extend(sorted(notebook, key=lambda cell: cell.cell_num))  # type: ignore[attr-defined]
    items[:] = ordered


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
