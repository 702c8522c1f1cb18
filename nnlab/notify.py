"""How the training loop tells its observers what happens, without ever failing because of one.

The loop knows observers only through :class:`Notifier`: it calls a hook by name, and every
observer that implements it is called in turn. An observer that raises is reported once (an
:class:`ObserverWarning`) and training goes on. The hooks are documented in
:mod:`nnlab.observers`, which also has the :class:`~nnlab.observers.Observer` base class.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["BATCH_REPORT_INTERVAL", "HOOKS", "Notifier", "ObserverWarning"]

#: Seconds between two ``on_batch_end`` calls within an epoch.
BATCH_REPORT_INTERVAL = 0.02

#: The hooks an observer may implement, in the order a run calls them.
HOOKS = (
    "on_run_start",
    "on_epoch_start",
    "on_batch_end",
    "on_epoch_end",
    "on_pause",
    "on_resume",
    "on_run_end",
)


class ObserverWarning(RuntimeWarning):
    """An observer raised; the run went on without its result."""


def implements(observer: Any, hook: str) -> bool:
    """Whether ``observer`` has its own ``hook`` (a no-op inherited from a base class whose
    hook is marked ``_nnlab_noop`` does not count, so the loop can skip idle work)."""
    method = getattr(observer, hook, None)
    if not callable(method):
        return False
    return not getattr(getattr(method, "__func__", method), "_nnlab_noop", False)


def noop(method: Callable[..., None]) -> Callable[..., None]:
    """Mark a base class's hook as doing nothing (see :func:`implements`)."""
    method._nnlab_noop = True  # type: ignore[attr-defined]
    return method


class Notifier:
    """Calls one hook on every observer that implements it; an observer's error never escapes.

    ``observers`` are fixed for the run. ``process_observers``, if given, is called at every
    notification for the observers that watch every run in the process (the registry's), so
    one added mid-run -- a server started while a cell trains -- sees the rest of that run.

    >>> class Counter:
    ...     epochs = 0
    ...     def on_epoch_end(self, job, record):
    ...         self.epochs += 1
    >>> counter = Counter()
    >>> notifier = Notifier([counter])
    >>> notifier.wants("on_epoch_end"), notifier.wants("on_batch_end")
    (True, False)
    >>> notifier.notify("on_epoch_end", None, None); counter.epochs
    1
    """

    def __init__(
        self,
        observers: Iterable[Any],
        process_observers: Callable[[], Iterable[Any]] | None = None,
    ) -> None:
        self.observers = list(observers)
        self._process_observers = process_observers
        self._reported: set[int] = set()
        self._by_hook = {
            hook: [getattr(o, hook) for o in self.observers if implements(o, hook)] for hook in HOOKS
        }

    def _methods(self, hook: str) -> list[Callable[..., Any]]:
        methods = self._by_hook[hook]
        if self._process_observers is not None:
            extra = [getattr(o, hook) for o in self._process_observers() if implements(o, hook)]
            if extra:
                return extra + methods
        return methods

    def wants(self, hook: str) -> bool:
        """Whether any observer, of the run or of the process right now, implements ``hook``
        (the loop asks once per epoch and skips the work of a hook nobody listens to)."""
        return bool(self._methods(hook))

    def notify(self, hook: str, *args: Any) -> None:
        """Call ``hook(*args)`` on every observer that implements it."""
        for method in self._methods(hook):
            try:
                method(*args)
            except Exception as exc:  # an observer must never stop training
                self._report(method, hook, exc)

    def _report(self, method: Any, hook: str, exc: Exception) -> None:
        owner = getattr(method, "__self__", method)
        if id(owner) in self._reported:
            return
        self._reported.add(id(owner))
        warnings.warn(
            f"observer {owner!r} raised {type(exc).__name__}: {exc} (in {hook}); training "
            "goes on, and further errors from this observer in this run are not reported",
            ObserverWarning,
            stacklevel=2,
        )
