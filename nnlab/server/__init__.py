"""nnlab's server: the REST API, the Socket.IO mirror of every training run, the test page.

Start it from a notebook cell with ``nnlab.serve()`` (or ``nnlab serve`` in a terminal).

Threading rules, in one place:

* the server has its own thread and event loop (never the kernel's);
* training runs in the caller's thread -- the kernel's for a cell, a worker thread for a
  job started over REST;
* only the mirror crosses from training threads into the server loop
  (:mod:`nnlab.server.mirror`: a deque append; a pacer thread looks at it and the loop
  drains it, :mod:`nnlab.server.fanout`); nothing else touches python-socketio from
  outside its loop;
* networks and jobs are shared through :data:`nnlab.registry.registry`, behind its lock.

Modules: :mod:`~nnlab.server.runner` (the background thread and :func:`serve`),
:mod:`~nnlab.server.app` (the ASGI app), :mod:`~nnlab.server.api` (REST),
:mod:`~nnlab.server.bodies` (input checks), :mod:`~nnlab.server.admission` (run slots
and the queue of REST jobs), :mod:`~nnlab.server.auth` (the token), :mod:`~nnlab.server.openapi`,
:mod:`~nnlab.server.mirror`, :mod:`~nnlab.server.pacing` and :mod:`~nnlab.server.fanout`
(the Socket.IO mirror), :mod:`~nnlab.server.replay` (catching clients up),
:mod:`~nnlab.server.stored` and :mod:`~nnlab.server.follow` (the run store: stored runs
over REST, other processes' runs on Socket.IO), :mod:`~nnlab.server.cli` (``nnlab
serve``). Importing this package is cheap: socketio, starlette and uvicorn load on the
first start.
"""

from __future__ import annotations

from nnlab.server.runner import PortInUseError, Server, current, serve

__all__ = ["PortInUseError", "Server", "current", "serve"]


def __dir__() -> list[str]:
    return __all__
