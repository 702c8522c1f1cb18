"""The live training view in a notebook, and the record it leaves behind.

``nnlab.train(...)`` in a notebook shows it by default (``progress="auto"``);
``nnlab.watch(job)`` shows it for a run that is already going. Reading order:
:mod:`nnlab.live.formats` (one text format per quantity), :mod:`nnlab.live.state`
(what to show), :mod:`nnlab.live.timing` (when to redraw), :mod:`nnlab.live.axes`
(round ticks), :mod:`nnlab.live.record` (static HTML, SVG and text),
:mod:`nnlab.live.widgets` (the ipywidgets view), :mod:`nnlab.live.mode` (which view
``progress=`` gets).

Tuning: ``NNLAB_LIVE_INTERVAL`` (seconds between redraws, default 0.1) or the
``interval`` argument; ``NNLAB_STABLE_OUTPUT=1`` or ``stable=True`` leave every timing
out of the text, for tests and nbval.

Importing this package is cheap; ipywidgets loads with :class:`LiveView` or :func:`watch`.
"""

from __future__ import annotations

from typing import Any

from nnlab.live.state import LiveState
from nnlab.live.timing import Throttle, live_interval

__all__ = ["LiveState", "LiveView", "Throttle", "live_interval", "watch"]


def __getattr__(name: str) -> Any:
    if name in ("LiveView", "watch"):
        from nnlab.live import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'nnlab.live' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
