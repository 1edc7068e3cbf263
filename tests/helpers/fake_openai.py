"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: scripted answers and injected faults.

litellm talks to it over real HTTP (``model="openai/<anything>"``, ``api_base=server.url``), so retries,
timeouts, 429 handling and parsing are exercised end to end. Faults are drawn per request from a seeded
generator: ``p_500`` (HTTP 500), ``p_429`` (HTTP 429 with ``Retry-After``), ``p_timeout`` (the server stalls
for ``stall_s`` before answering), ``p_malformed`` (a 200 whose content is not what was asked for). The
``responder(request_json) -> str`` callback supplies the assistant text of a normal answer.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class FaultPlan:
    p_500: float = 0.0
    p_429: float = 0.0
    p_timeout: float = 0.0
    p_malformed: float = 0.0
    retry_after_s: float = 0.05
    stall_s: float = 3.0
    latency_s: float = 0.0
    seed: int = 1234


@dataclass
class Counters:
    requests: int = 0
    ok: int = 0
    http_500: int = 0
    http_429: int = 0
    timeouts: int = 0
    malformed: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)


def echo_responder(body: dict[str, Any]) -> str:
    return "echo: " + str(body["messages"][-1].get("content", ""))


class FakeOpenAIServer:
    def __init__(self, responder: Callable[[dict[str, Any]], str] = echo_responder,
                 faults: FaultPlan | None = None, keep_bodies: bool = False) -> None:
        self.responder = responder
        self.faults = faults or FaultPlan()
        self.counters = Counters()
        self.keep_bodies = keep_bodies
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[Any] = set()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def _draw(self) -> str:
        f = self.faults
        with self._lock:
            r = self._rng.random()
        for name, p in (("500", f.p_500), ("429", f.p_429), ("timeout", f.p_timeout), ("malformed", f.p_malformed)):
            if r < p:
                return name
            r -= p
        return "ok"

    def start(self) -> "FakeOpenAIServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes; with Nagle's algorithm on, the body waits for the client's
            # delayed ACK of the headers (~40 ms a response). Real servers set TCP_NODELAY; so does this one.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._conns.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._conns.discard(self.connection)
                super().finish()

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                try:  # a client that gave up (a timeout test) has closed the socket
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def do_GET(self) -> None:  # /v1/models for clients that probe; /v1/counters for tests
                if self.path.rstrip("/").endswith("/counters"):
                    with server._lock:
                        counts = {k: v for k, v in vars(server.counters).items() if k != "bodies"}
                    self._send(200, counts)
                    return
                self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                c = server.counters
                with server._lock:
                    c.requests += 1
                    if server.keep_bodies:
                        c.bodies.append(body)
                if server.faults.latency_s:
                    time.sleep(server.faults.latency_s)
                outcome = server._draw()
                if outcome == "500":
                    with server._lock:
                        c.http_500 += 1
                    self._send(500, {"error": {"message": "injected server error", "type": "server_error"}})
                    return
                if outcome == "429":
                    with server._lock:
                        c.http_429 += 1
                    self._send(429, {"error": {"message": "injected rate limit", "type": "rate_limit"}},
                               {"Retry-After": str(server.faults.retry_after_s)})
                    return
                if outcome == "timeout":
                    with server._lock:
                        c.timeouts += 1
                    time.sleep(server.faults.stall_s)
                text = "Sure! Here you go: <<<not what you asked for>>>" if outcome == "malformed" \
                    else server.responder(body)
                with server._lock:
                    if outcome == "malformed":
                        c.malformed += 1
                    else:
                        c.ok += 1
                prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                completion_tokens = len(text.split())
                self._send(200, {
                    "id": f"chatcmpl-{c.requests}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                })

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and hang up on kept-alive connections, so no handler thread outlives the server."""
        import socket

        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            with self._lock:
                conns = list(self._conns)
            for conn in conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class ServerProcess:
    """A ``FakeOpenAIServer`` in a forked process of its own: the test process stays single-threaded (so the
    LLM client may fork workers) and the server's CPU is not the client's. ``counters()`` asks it over HTTP."""

    def __init__(self, responder: Callable[[dict[str, Any]], str] = echo_responder,
                 faults: FaultPlan | None = None) -> None:
        self.responder, self.faults = responder, faults
        self.url = ""
        self._proc: Any = None

    def __enter__(self) -> "ServerProcess":
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)

        def serve() -> None:
            srv = FakeOpenAIServer(self.responder, self.faults).start()
            send.send(srv.url)
            while True:
                time.sleep(3600)

        self._proc = ctx.Process(target=serve, daemon=True)
        self._proc.start()
        if not recv.poll(30):
            raise RuntimeError("the fake server process did not start")
        self.url = recv.recv()
        return self

    def counters(self) -> dict[str, int]:
        import urllib.request

        with urllib.request.urlopen(self.url + "/counters", timeout=10) as resp:
            return json.loads(resp.read())

    def __exit__(self, *exc: Any) -> None:
        self._proc.terminate()
        self._proc.join(10)
