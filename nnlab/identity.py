"""Who runs this process's runs, and where: the owner, the host and the kernel id.

Every run carries them as extra fields of ``training_status`` and of the REST API (never of
``training_update``), so a class hub can tell its students' runs apart. The owner is
``$NNLAB_OWNER``, else ``$JUPYTERHUB_USER`` (set by JupyterHub in every student's kernel),
else the OS user; :func:`set_owner` (or ``nnlab.connect(owner=...)``) overrides it.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket

__all__ = ["Identity", "host", "identity", "kernel_id", "owner", "set_owner"]

_owner_override: str | None = None
_kernel: tuple[int, str] | None = None  # (pid, id): a forked child gets an id of its own


def owner() -> str:
    """The user this process's runs belong to."""
    if _owner_override is not None:
        return _owner_override
    for name in ("NNLAB_OWNER", "JUPYTERHUB_USER"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def set_owner(name: str | None) -> None:
    """Name the owner of this process's runs from now on (``None``: back to the default).

    >>> set_owner("ada"); owner()
    'ada'
    >>> set_owner(None)
    """
    global _owner_override
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"owner must be a non-empty string such as 'ada', got {name!r}")
    _owner_override = None if name is None else name.strip()


def host() -> str:
    """This machine's host name."""
    return socket.gethostname()


def kernel_id() -> str:
    """This process's id among the kernels of a class: host, pid and a random part (a
    restarted kernel that gets the same pid is still another kernel)."""
    global _kernel
    pid = os.getpid()
    if _kernel is None or _kernel[0] != pid:
        _kernel = (pid, f"{host()}-{pid}-{secrets.token_hex(3)}")
    return _kernel[1]


Identity = dict[str, str]


def identity() -> Identity:
    """``{"owner", "host", "kernel_id"}`` of this process, as runs carry them.

    >>> sorted(identity())
    ['host', 'kernel_id', 'owner']
    """
    return {"owner": owner(), "host": host(), "kernel_id": kernel_id()}
