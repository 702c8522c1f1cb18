"""The server's token: who may call the REST API and join Socket.IO.

On loopback (the default) the server is open unless a token is given; on any other address
it needs one (:func:`check_exposure`, before anything binds). With a token, REST calls carry
``Authorization: Bearer <token>`` (or ``?token=<token>``) and Socket.IO clients send
``auth: {token}`` (or the same header or query on their connection). Refusals are 401 JSON;
tokens are compared in constant time (``hmac.compare_digest``). The test page and the
redirect to it stay open: they hold no data, and the page passes its ``?token=`` on.
Nothing here imports the server stack at module level, so the runner checks tokens cheaply.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "PROTECTED_PREFIXES",
    "TokenGuard",
    "TokenMiddleware",
    "check_exposure",
    "check_token",
    "generate_token",
    "is_loopback",
    "require_token_on_connect",
]

#: HTTP paths that need the token (everything with data: the REST API and its description).
PROTECTED_PREFIXES = ("/api/", "/openapi.json")

_HOW = (
    "send the header 'Authorization: Bearer <token>' (or add ?token=<token> to the URL); "
    "Socket.IO clients connect with auth: {token: '<token>'}"
)


def generate_token() -> str:
    """A fresh random token (43 URL-safe characters), as ``nnlab serve`` prints.

    >>> len(generate_token())
    43
    """
    return secrets.token_urlsafe(32)


def check_token(token: Any) -> str | None:
    """``token`` if it is usable (printable ASCII without spaces), ``None`` stays ``None``.

    >>> check_token("s3cret-token"), check_token(None)
    ('s3cret-token', None)
    """
    if token is None:
        return None
    if (
        not isinstance(token, str)
        or not token
        or not token.isascii()
        or not token.isprintable()
        or " " in token
    ):
        raise ValueError(
            f"token must be a non-empty string of printable ASCII without spaces (it travels in "
            f"headers and URLs), got {token!r}: e.g. nnlab.server.auth.generate_token()"
        )
    return token


def is_loopback(host: str) -> bool | None:
    """Whether ``host`` is reachable from this machine only (a name counts if every address
    it resolves to is loopback); ``None`` for a name that does not resolve.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("")
    (True, True, False, False)
    """
    if not host.strip():  # "" binds every interface
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return None
    return all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a token (checked before binding).

    >>> check_exposure("127.0.0.1", None)
    >>> check_exposure("0.0.0.0", None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: serving on 0.0.0.0 without a token would let anyone ...
    """
    if token is None and is_loopback(host) is False:  # an unresolvable name fails to bind
        raise ValueError(
            f"serving on {host} without a token would let anyone who can reach this machine "
            f"create networks and start training: pass a token, e.g. "
            f"nnlab.serve(host={host!r}, token=nnlab.server.auth.generate_token()), or run "
            f"`nnlab serve --host {host}` (it generates and prints one; --token sets your own); "
            "or bind 127.0.0.1"
        )


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _query_token(query_string: str) -> str | None:
    values = parse_qs(query_string).get("token")
    return values[-1] if values else None


class TokenGuard:
    """Checks presented tokens against the server's (every token passes when it has none)."""

    def __init__(self, token: str | None) -> None:
        checked = check_token(token)
        self._token = None if checked is None else checked.encode()

    @property
    def required(self) -> bool:
        """Whether callers must present the token."""
        return self._token is not None

    def accepts(self, presented: str | None) -> bool:
        """Whether ``presented`` opens the door (constant-time comparison)."""
        if self._token is None:
            return True
        if not isinstance(presented, str):
            return False
        return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), self._token)

    @staticmethod
    def presented(headers: Mapping[str, str], query_string: str) -> str | None:
        """The token a request carries: the ``Authorization: Bearer`` header, else ``?token=``."""
        return _bearer(headers.get("authorization")) or _query_token(query_string)

    @staticmethod
    def refusal(presented: str | None) -> dict[str, Any]:
        """The 401 body: why, and how to send the token."""
        why = "the token is wrong" if presented else "this server requires a token"
        return {"error": f"{why}: {_HOW}", "field": "token", "status": 401}


class TokenMiddleware:
    """ASGI middleware: 401 JSON for a request to a protected path without the token."""

    def __init__(self, app: ASGIApp, guard: TokenGuard, prefixes: Iterable[str] = PROTECTED_PREFIXES) -> None:
        self.app = app
        self.guard = guard
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.guard.required
            or not str(scope["path"]).startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers
        from starlette.responses import JSONResponse

        presented = self.guard.presented(
            Headers(scope=scope), scope.get("query_string", b"").decode("latin-1")
        )
        if self.guard.accepts(presented):
            await self.app(scope, receive, send)
            return
        body = self.guard.refusal(presented)
        body.pop("status")
        response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="nnlab"'})
        await response(scope, receive, send)


def require_token_on_connect(sio: Any, guard: TokenGuard) -> None:
    """Refuse a Socket.IO CONNECT without the token, with a CONNECT_ERROR the client sees as
    ``connect_error`` (``err.data`` holds the 401 JSON).

    The check sits in front of python-socketio's handling of the CONNECT packet (on its
    Engine.IO ``message`` handler) rather than in the ``connect`` handler: with
    ``always_connect`` the server confirms a connection before that handler runs, so a
    refusal there would reach clients as a connect followed by a disconnect.
    """
    if not guard.required:
        return
    from socketio import packet

    eio = sio.eio
    handle = eio.handlers["message"]

    async def on_message(eio_sid: str, data: Any) -> None:
        if isinstance(data, str) and data[:1] == str(packet.CONNECT):
            pkt = sio.packet_class(encoded_packet=data)
            auth = pkt.data if isinstance(pkt.data, dict) else {}
            presented = auth.get("token")
            if presented is None:
                environ = sio.environ.get(eio_sid) or {}
                presented = TokenGuard.presented(
                    {"authorization": environ.get("HTTP_AUTHORIZATION", "")},
                    environ.get("QUERY_STRING", ""),
                )
            if not guard.accepts(presented):
                refusal = guard.refusal(presented)
                error = sio.packet_class(
                    packet.CONNECT_ERROR,
                    data={"message": f"401 Unauthorized: {refusal['error']}", "data": refusal},
                    namespace=pkt.namespace,
                )
                await eio.send(eio_sid, error.encode())
                return
        await handle(eio_sid, data)

    eio.on("message", on_message)
