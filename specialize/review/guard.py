"""The review page's door: loopback Host only, a token, and no foreign Origin (the HTTP MCP server's rules).

The token arrives once in the URL (``?token=...``); the page then swaps it for an HttpOnly, SameSite=Strict
cookie scoped to this port and redirects to the same address without it, so it leaves no trace in history
or referrers. A missing or wrong token gets 401; a request whose Host or Origin is not this server's gets 403
(that closes DNS rebinding and cross-site form posts).
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def cookie_name(port: int) -> str:
    return f"specialize_review_{port}"


class ReviewGuard:
    def __init__(self, app: Any, *, token: str, port: int) -> None:
        self.app = app
        self.token = token.encode()
        self.port = port
        self.hosts = {f"{h}:{port}" for h in LOOPBACK_NAMES}
        self.origins = {f"http://{h}:{port}" for h in LOOPBACK_NAMES}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if headers.get("host", "") not in self.hosts:
            await reply(send, 403, "Forbidden: this review page answers only on 127.0.0.1 (or localhost) at its "
                                   "own port.")
            return
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            await reply(send, 403, "Forbidden: requests from a foreign Origin are refused.")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is the same as none
            cookies = SimpleCookie()
        auth = headers.get("authorization", "")
        from_query = query.get("token")
        given = (from_query or (auth[7:].strip() if auth.lower().startswith("bearer ") else "")
                 or (cookies[cookie_name(self.port)].value if cookie_name(self.port) in cookies else ""))
        if not hmac.compare_digest(given.encode(), self.token):
            await reply(send, 401, "Unauthorized: open the review with the URL (and its ?token=...) that "
                                   "open_review or `specialize review` printed.")
            return
        if from_query is not None and scope["method"] == "GET":
            rest = {k: v for k, v in query.items() if k != "token"}
            location = scope["path"] + (f"?{urlencode(rest)}" if rest else "")
            await reply(send, 303, "See other", extra=[
                (b"location", location.encode()),
                (b"set-cookie", f"{cookie_name(self.port)}={self.token.decode()}; HttpOnly; SameSite=Strict; "
                                f"Path=/".encode())])
            return
        await self.app(scope, receive, send)


async def reply(send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
