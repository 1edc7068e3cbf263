"""The real stdio MCP server as a subprocess, spoken to line by line (no SDK client in between), so tests can
send what a well-behaved client never would and check that every line gets its answer."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


class RawStdioServer:
    """``specialize mcp`` as a subprocess, spoken to line by line."""

    def __init__(self, workspace: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "specialize", "mcp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {}), "SPECIALIZE_WORKSPACE": str(workspace)})
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, text: str) -> None:
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def reply(self, timeout: float = 30) -> dict | None:
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            return None

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def initialize(self) -> None:
        self.send(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}))
        first = self.reply(timeout=120)  # a loaded machine can take tens of seconds to start Python
        assert first is not None and first.get("id") == 0, first
        self.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))

    def __enter__(self) -> "RawStdioServer":
        self.initialize()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def answer_to(self, request_id: Any, timeout: float = 30) -> dict | None:
        """The reply carrying ``request_id``; notifications and other replies met on the way are skipped."""
        import time

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.reply(timeout=left)
            if msg is None:
                return None
            if msg.get("id") == request_id and ("result" in msg or "error" in msg):
                return msg
        return None
