"""Streamable HTTP for the MCP server: loopback only, a bearer token, and no foreign Origins.

The token is compared in constant time; a missing or wrong one gets 401. A browser page on another origin
gets 403, which (with the loopback bind and the SDK's Host check) closes the DNS-rebinding route.
"""

from __future__ import annotations

import hmac
import secrets
import sys
from typing import Any
from urllib.parse import urlsplit

from specialize.runtime.errors import InvalidInput

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class GuardMiddleware:
    def __init__(self, app: Any, token: str, port: int) -> None:
        self.app = app
        self.token = token.encode()
        self.port = port

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        if origin and urlsplit(origin).hostname not in LOOPBACK:
            await _reply(send, 403, "Forbidden: requests from a foreign Origin are refused.")
            return
        auth = headers.get("authorization", "")
        given = auth[7:].strip().encode() if auth.lower().startswith("bearer ") else b""
        if not hmac.compare_digest(given, self.token):
            await _reply(send, 401, "Unauthorized: send 'Authorization: Bearer <token>'.",
                         extra=[(b"www-authenticate", b'Bearer realm="specialize"')])
            return
        await self.app(scope, receive, send)


async def _reply(send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


def build_app(server: Any, *, port: int, token: str) -> Any:
    from mcp.server.transport_security import TransportSecuritySettings

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.1", "localhost"],
        allowed_origins=[f"http://127.0.0.1:{port}", f"http://localhost:{port}"],
    )
    app = server.streamable_http_app(transport_security=security, host="127.0.0.1")
    return GuardMiddleware(app, token, port)


def serve_http(server: Any, *, host: str, port: int, token: str | None) -> None:
    import uvicorn

    if host not in LOOPBACK:
        raise InvalidInput(f"Refusing to serve MCP over HTTP on {host}: only loopback is allowed.",
                           fix="Use --host 127.0.0.1 and put a reverse proxy in front if you need more.")
    if not token:
        token = secrets.token_urlsafe(32)
        sys.stderr.write(f"specialize MCP token (send as 'Authorization: Bearer ...'): {token}\n")
    sys.stderr.write(f"specialize MCP server on http://{host}:{port}/mcp\n")
    sys.stderr.flush()
    uvicorn.run(build_app(server, port=port, token=token), host=host, port=port, log_level="warning")
