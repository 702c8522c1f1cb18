"""ipykernel's comm-routing hook, used by the live view's Stop button.

A click is a comm message on the shell channel, which the kernel reads only between
cells, so a click during ``train()`` in a cell would wait for the run to end. ipykernel 7
first sees every shell message in its shell-channel thread and asks the message's comm
where to route it (``Kernel.shell_channel_thread_main`` calls the comm's private
``_reply_subshell_for(data, default)``); wrapping that method lets a click act at once.
``tests/test_adapters.py`` checks the hook against the installed ipykernel and fails
loudly when an upgrade changes it.

Fallback (no such hook, e.g. ipykernel 6): nothing is wrapped and the click is handled
between cells, which is when a run started with ``background=True`` or over REST stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

__all__ = ["HOOK", "on_message_early"]

#: The private method of ``ipykernel.comm.Comm`` the kernel's shell thread calls.
HOOK = "_reply_subshell_for"


def on_message_early(comm: Any, handler: Callable[[Any], None]) -> bool:
    """Call ``handler(data)`` with every message's data as soon as the kernel's shell
    thread sees it, before it is routed (even while a cell runs).

    ``handler`` runs on the kernel's shell-channel thread: it must be quick and must not
    touch widgets; its exceptions are swallowed so the kernel's routing never breaks.
    Returns whether the hook exists (``False``: messages arrive between cells only).
    """
    route = getattr(comm, HOOK, None)
    if comm is None or route is None:
        return False

    def early(data: Any, default: Any) -> Any:
        with contextlib.suppress(Exception):
            handler(data)
        return route(data, default)

    setattr(comm, HOOK, early)
    return True
