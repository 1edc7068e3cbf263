"""The ``specialize`` command. ``specialize mcp`` goes straight to the server, without importing the CLI
framework: an MCP client is waiting for the tool list. Everything else is the typer app in ``cli.py``."""

from __future__ import annotations

import os
import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["mcp"]:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm must not fetch prices at import
        from specialize.runtime.errors import SpecializeError
        from specialize.server.app import main as serve

        try:
            serve(argv[1:])
        except SpecializeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        return
    from specialize.cli.app import main as cli_main

    cli_main()
