"""Which progress view a run gets: the one place that chooses between text and widgets.

``train(progress=...)`` asks :func:`make_progress` for its observer. The training loop
itself builds no view; this module sits above both it and :mod:`nnlab.live`, and loads
the widget view (and ipywidgets) only when one may be shown.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from nnlab._kernel import ProgressWarning, in_kernel, warn_once
from nnlab.observers import TextProgress

if TYPE_CHECKING:
    from nnlab.observers import Observer

__all__ = ["ProgressWarning", "make_progress"]


def make_progress(progress: Any) -> Observer | None:
    """The progress observer for ``train(progress=...)``.

    ``"auto"``: the live widget view in a Jupyter kernel's main thread (none in another
    kernel thread: a run there has no cell to show in, so ``nnlab.watch(job)`` shows it), a
    line per epoch on stderr elsewhere. ``"widgets"``: the live view (text lines and a
    warning, once, where it cannot show). ``"text"``: a line per epoch on stdout.
    ``False``: nothing.

    >>> make_progress(False) is None, type(make_progress("text")).__name__
    (True, 'TextProgress')
    """
    if progress is False or progress is None:
        return None
    if progress == "text" or progress is True:
        return TextProgress()
    if progress not in ("auto", "widgets"):
        raise ValueError(f"progress must be 'auto', 'widgets', 'text' or False, got {progress!r}")
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
