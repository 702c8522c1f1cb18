"""Collection rules for the whole suite (tests/ and the notebooks under nbval)."""

from __future__ import annotations

import os

import pytest

# Runs of the suite stay in memory (the store's own tests pass store=... files); set before
# any test or nbval kernel starts, so doctests and notebook kernels inherit it.
os.environ["NNLAB_STORE"] = "off"


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
