"""``nnlab.connect``: this kernel's runs on the class's hub, through Redis.

One :class:`~nnlab.hub.publish.Publisher` per process: :func:`connect` starts it (again:
replaces it), :func:`disconnect` stops it, :func:`hub_status` says how it goes. With
``$NNLAB_REDIS_URL`` set (a JupyterHub admin sets it for every student) the first run of
the process connects by itself (:func:`auto_connect`).
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import warnings
from typing import Any

from nnlab.hub._redis import check_redis_url, import_redis
from nnlab.hub.keys import CHANNEL, Keys
from nnlab.hub.publish import HEARTBEAT, HubWarning, Publisher
from nnlab.identity import set_owner

__all__ = ["HubWarning", "auto_connect", "connect", "current", "disconnect", "hub_status"]

#: The environment variables a class sets: the Redis URL, and seconds between heartbeats.
URL_VARIABLE = "NNLAB_REDIS_URL"
HEARTBEAT_VARIABLE = "NNLAB_HUB_HEARTBEAT"

_lock = threading.Lock()
_auto_lock = threading.Lock()
_publisher: Publisher | None = None
_auto_tried: str | None = None  # the $NNLAB_REDIS_URL auto_connect last acted on


def connect(
    url: str | None = None,
    *,
    channel: str = CHANNEL,
    owner: str | None = None,
    heartbeat: float | None = None,
) -> Publisher:
    """Publish every run of this process to the class on the Redis at ``url`` (default:
    ``$NNLAB_REDIS_URL``), for the hub (``nnlab serve --redis URL``) to show.

    ``channel`` names the class (the hub must use the same); ``owner`` names the runs'
    owner (default: ``$JUPYTERHUB_USER``, else the OS user); ``heartbeat`` is the seconds
    between two signs of life (default ``$NNLAB_HUB_HEARTBEAT``, else 5). Training never
    waits for Redis: see :mod:`nnlab.hub.publish`. Connecting again replaces the publisher;
    :func:`disconnect` stops it. Returns the :class:`~nnlab.hub.publish.Publisher`
    (``.status()``).

    >>> connect("http://127.0.0.1:6379")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: url must be a URL such as 'redis://HOST:6379/0' (...), got 'http://127.0.0.1:6379'
    """
    global _publisher
    url = _url(url)
    Keys(channel)
    interval = _heartbeat(heartbeat)
    import_redis()
    if owner is not None:
        set_owner(owner)
    with _lock:
        old, _publisher = _publisher, None
        if old is not None:
            old.stop()
        else:  # at exit: publish what waits and remove the heartbeat (harmless if gone)
            atexit.unregister(disconnect)
            atexit.register(disconnect)
        _publisher = Publisher(url, channel=channel, heartbeat=interval).start()
        return _publisher


def disconnect() -> None:
    """Stop publishing this process's runs (threads ended, heartbeat removed); no-op when
    not connected."""
    global _publisher
    with _lock:
        old, _publisher = _publisher, None
    if old is not None:
        old.stop()


def current() -> Publisher | None:
    """The running publisher, or ``None``."""
    return _publisher


def hub_status() -> dict[str, Any] | None:
    """How publishing to the hub goes (:meth:`~nnlab.hub.publish.Publisher.status`:
    connected, events written, buffered, dropped, coalesced, last error, the URL without
    its password), or ``None`` when this process is not connected.

    >>> hub_status() is None
    True
    """
    publisher = _publisher
    return None if publisher is None else publisher.status()


def auto_connect() -> None:
    """Connect when ``$NNLAB_REDIS_URL`` is set, once per value (a later
    :func:`disconnect` stands), unless connected already. A bad value warns
    (:class:`HubWarning`) and training goes on unpublished."""
    global _auto_tried
    url = os.environ.get(URL_VARIABLE, "").strip()
    if not url or url == _auto_tried or _publisher is not None:
        return
    with _auto_lock:  # two runs starting at once connect once
        if url == _auto_tried:
            return
        _auto_tried = url
    try:
        connect()  # from the environment, so an error names the variable
    except (ValueError, ImportError) as exc:
        warnings.warn(
            f"{URL_VARIABLE} is set but this kernel cannot publish to the class: {exc}; its "
            "runs train here as usual",
            HubWarning,
            stacklevel=3,
        )


def _url(url: Any) -> str:
    if url is None:
        from_env = os.environ.get(URL_VARIABLE, "").strip()
        if not from_env:
            raise ValueError(
                f"url is missing: pass nnlab.connect('redis://HOST:6379/0') or set {URL_VARIABLE}"
            )
        return check_redis_url(from_env, URL_VARIABLE)
    return check_redis_url(url, "url")


def _heartbeat(value: Any) -> float:
    name = "heartbeat"
    if value is None:
        text = os.environ.get(HEARTBEAT_VARIABLE, "").strip()
        if not text:
            return HEARTBEAT
        name = HEARTBEAT_VARIABLE
        try:
            value = float(text)
        except ValueError:
            value = text
    ok = (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )
    if not ok:
        raise ValueError(f"{name} must be a number of seconds > 0 such as 5, got {value!r}")
    return float(value)
