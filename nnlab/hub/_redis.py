"""The Redis client, imported only when a hub or a connected kernel needs it.

Checks a Redis URL before anything connects, so a typo gets a message that says what to
write instead of a traceback from deep inside the client.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

__all__ = ["SCHEMES", "check_redis_url", "import_redis", "redacted", "sync_client"]

#: URL schemes the Redis client understands (``rediss`` is Redis over TLS).
SCHEMES = ("redis", "rediss", "unix")

#: Seconds to wait for Redis before an operation counts as failed (the hub and the
#: publisher retry on their own schedule, so nothing waits long on a Redis that is down).
SOCKET_TIMEOUT = 2.0


def import_redis() -> Any:
    """The ``redis`` package, or an ``ImportError`` that says how to install it."""
    try:
        import redis
    except ImportError:
        raise ImportError(
            "the classroom hub needs the Redis client: pip install 'nnlab[hub]' (or pip install redis)"
        ) from None
    return redis


def check_redis_url(url: Any, name: str = "redis") -> str:
    """``url`` if it is a Redis URL, else a ``ValueError`` naming ``name``.

    >>> check_redis_url("redis://:secret@127.0.0.1:6379/0")
    'redis://:secret@127.0.0.1:6379/0'
    >>> check_redis_url("http://127.0.0.1:6379")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: redis must be a URL such as 'redis://HOST:6379/0' (...), got 'http://127.0.0.1:6379'
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    ok = parts is not None and parts.scheme in SCHEMES and bool(parts.netloc or parts.path)
    if not ok:
        raise ValueError(
            f"{name} must be a URL such as 'redis://HOST:6379/0' (or rediss:// for TLS, "
            f"unix:///path/redis.sock), got {redacted(url) if isinstance(url, str) else url!r}"
        )
    assert isinstance(url, str)
    return url


def redacted(url: str) -> str:
    """``url`` with its password hidden, for banners, logs and errors.

    >>> redacted("rediss://teacher:s3cret@redis.example.org:6380/2")
    'rediss://teacher:***@redis.example.org:6380/2'
    >>> redacted("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def sync_client(url: str) -> Any:
    """A ``redis.Redis`` for ``url`` that answers with ``str`` and gives up quickly."""
    redis = import_redis()
    return redis.Redis.from_url(
        check_redis_url(url),
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=10,
    )
