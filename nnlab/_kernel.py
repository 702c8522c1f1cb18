"""Where this process runs: inside a Jupyter kernel or not, and warnings shown only once."""

from __future__ import annotations

import sys
import warnings
from typing import Any

__all__ = ["ProgressWarning", "in_kernel", "warn_once"]

_warned: set[str] = set()


class ProgressWarning(UserWarning):
    """The widget view cannot show here; progress falls back to text lines."""


def warn_once(message: str, category: type[Warning] = ProgressWarning, stacklevel: int = 4) -> None:
    """Warn with ``message`` the first time only."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, category, stacklevel=stacklevel)


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (a front end can show widgets).

    >>> in_kernel()
    False
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def display(obj: Any, **options: Any) -> Any:
    """IPython's ``display`` (untyped upstream), for the modules that show things in a cell."""
    from IPython.display import display as show

    return show(obj, **options)  # type: ignore[no-untyped-call]


def update_display(obj: Any, *, display_id: str, **options: Any) -> None:
    """IPython's ``update_display``: replace what ``display(..., display_id=...)`` showed."""
    from IPython.display import update_display as update

    update(obj, display_id=display_id, **options)  # type: ignore[no-untyped-call]
