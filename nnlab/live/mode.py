"""Which live view ``train(progress="auto" | "widgets")`` gets, decided where it runs.

In a Jupyter kernel the widget view (in the kernel's main thread for ``"auto"``: a
run started in another thread has no cell to show in, so ``nnlab.watch(job)`` shows
it); elsewhere, or without ipywidgets, text lines with a warning, once.
"""

from __future__ import annotations

import sys
import threading
import warnings
from typing import Any

from nnlab.observers import Observer, TextProgress

__all__ = ["ProgressWarning", "in_kernel", "warn_once", "widget_progress"]

_warned: set[str] = set()


class ProgressWarning(UserWarning):
    """The widget view cannot show here; progress falls back to text lines."""


def warn_once(message: str) -> None:
    """Warn with ``message`` (a :class:`ProgressWarning`) the first time only."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, ProgressWarning, stacklevel=4)


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (a front end can show widgets).

    >>> in_kernel()
    False
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def widget_progress(progress: Any) -> Observer | None:
    """The observer for ``progress="auto"`` or ``"widgets"``: a :class:`LiveView`,
    text lines, or ``None`` (``"auto"`` off the kernel's main thread)."""
    kernel = in_kernel()
    if progress == "auto":
        if not kernel:
            return TextProgress(sys.stderr)
        if threading.current_thread() is not threading.main_thread():
            return None
    elif not kernel:
        warn_once(
            "progress='widgets' needs a Jupyter front end (a kernel) to show widgets; "
            "printing a line per epoch instead. Use progress='text' to ask for lines."
        )
        return TextProgress()
    try:
        from nnlab.live.widgets import LiveView
    except ImportError as exc:
        warn_once(
            f"the live view needs ipywidgets ({exc}); printing a line per epoch instead. "
            "Install it with: pip install ipywidgets"
        )
        return TextProgress()
    return LiveView()
