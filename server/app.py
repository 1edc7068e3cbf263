"""Build the MCP server from the catalog and run it over stdio or streamable HTTP.

stdio: stdout carries only protocol; logs go to stderr. HTTP: 127.0.0.1 only, a bearer token on every
request, and requests from a foreign Origin refused (see ``server/http_guard.py``).
"""

from __future__ import annotations

import logging
import sys

from mcp.server.mcpserver import MCPServer
from specialize.server.lazy import lazy_tool
from specialize.server.manifest import load_manifest
from specialize.server.resources import add_resources

from specialize import __version__

INSTRUCTIONS = (
    "specialize turns a narrow LLM task into a small specialist model and says whether that pays. "
    "Start with assess_task and estimate_break_even. Long work (training, export, big generation or judging "
    "runs) returns a job_id at once: poll job_status, read job_logs, stop with job_cancel. Artifacts live in "
    "the workspace and are returned as paths. The playbooks are resources under skill://."
)


def build_server() -> MCPServer:
    # Tools come from the cached manifest: listing them needs neither the tool modules nor their models.
    tools = [lazy_tool(entry) for entry in load_manifest()]
    server = MCPServer("specialize", instructions=INSTRUCTIONS, version=__version__, tools=tools,
                       log_level="WARNING")
    add_resources(server)
    return server


def _stderr_logging() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def run_stdio() -> None:
    import anyio
    from specialize.server.stdio import serve_stdio

    _stderr_logging()
    anyio.run(serve_stdio, build_server())


def run_http(host: str, port: int, token: str | None) -> None:
    from specialize.server.http_guard import serve_http

    _stderr_logging()
    serve_http(build_server(), host=host, port=port, token=token)


def main(argv: list[str] | None = None) -> None:
    """``specialize mcp [--http] [--host H] [--port P] [--token T]``."""
    import argparse
    import os

    ap = argparse.ArgumentParser(prog="specialize mcp", description="Run the MCP server (stdio by default).")
    ap.add_argument("--http", action="store_true", help="Serve streamable HTTP on 127.0.0.1 instead of stdio.")
    ap.add_argument("--host", default="127.0.0.1", help="Loopback address to bind (HTTP only).")
    ap.add_argument("--port", type=int, default=8765, help="Port (HTTP only).")
    ap.add_argument("--token", default=os.environ.get("SPECIALIZE_MCP_TOKEN") or None,
                    help="Bearer token clients must send (HTTP only; default $SPECIALIZE_MCP_TOKEN); generated and "
                         "printed to stderr if not given.")
    args = ap.parse_args(argv)
    if args.http:
        run_http(args.host, args.port, args.token)
    else:
        run_stdio()
