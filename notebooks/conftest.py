"""Running the tutorial notebooks under nbval (see README.md here).

Each notebook runs in a fresh kernel started by nbval. The kernels get
``NNLAB_STABLE_OUTPUT=1``, so the live view and text progress leave timings out of their
output; the variable is set only while nbval starts a notebook's kernel, so the other
tests of the session see the environment unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

KERNEL_ENV = {"NNLAB_STABLE_OUTPUT": "1"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Set ``KERNEL_ENV`` while nbval sets up a cell (the first one starts the kernel)."""
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
