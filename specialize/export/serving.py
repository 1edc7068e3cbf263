"""``specialize serve MODEL.gguf``: llama.cpp's OpenAI-compatible server (llama_cpp.server) on 127.0.0.1.

The server uses the chat template embedded in the GGUF, so a file that passed the export's round trip is
prompted exactly as in training. Clients reach it through litellm as ``openai/<alias>`` with
``api_base=http://127.0.0.1:PORT/v1`` (any api_key), which is how run_eval can measure it as an endpoint.
Needs the server extras: fastapi, uvicorn, sse-starlette, starlette-context, pydantic-settings.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from specialize.runtime.errors import DependencyMissing, UpstreamError
from specialize.runtime.procs import tied_module_command

SERVER_DEPS = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(model: Path, *, port: int, alias: str | None = None, n_ctx: int = 2048,
                   n_threads: int | None = None) -> list[str]:
    missing = [m for m in SERVER_DEPS if importlib.util.find_spec(m) is None]
    if missing:
        raise DependencyMissing(f"llama.cpp's server needs {', '.join(missing)}.",
                                fix="pip install 'llama-cpp-python[server]' (or: pip install fastapi uvicorn "
                                "sse-starlette starlette-context pydantic-settings).")
    args = ["--model", str(model), "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
            "--model_alias", alias or Path(model).stem]
    if n_threads:
        args += ["--n_threads", str(n_threads)]
    return tied_module_command("llama_cpp.server", *args)


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UpstreamError(f"llama.cpp's server exited with code {proc.returncode} before it was ready.",
                                fix="Run `specialize serve MODEL.gguf` in a terminal to read its error.")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise UpstreamError(f"llama.cpp's server did not answer on port {port} within {timeout:.0f} s.",
                        fix="Check the port is free and the model loads.")


def start_server(model: Path, *, port: int | None = None, alias: str | None = None, n_ctx: int = 2048,
                 log_file: Path | None = None, n_threads: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start the server in the background; returns (process, api_base). The caller terminates it; should the
    caller be killed instead, the server gets SIGTERM from the kernel (``tied_module_command``), so no llama.cpp
    server outlives the process (the demo, a tool) that started it. Call it from a long-lived thread."""
    port = port or free_port()
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    proc = subprocess.Popen(server_command(model, port=port, alias=alias, n_ctx=n_ctx, n_threads=n_threads), stdout=out,
                            stderr=subprocess.STDOUT)
    try:
        wait_ready(port, proc)
    except Exception:
        proc.terminate()
        proc.wait(10)
        raise
    return proc, f"http://127.0.0.1:{port}/v1"


def serve_foreground(model: Path, *, port: int = 8080, alias: str | None = None, n_ctx: int = 2048) -> int:
    """Run the server until interrupted (the ``specialize serve`` command)."""
    if not Path(model).is_file():
        raise DependencyMissing(f"{model} does not exist.", fix="Pass the path of an exported .gguf file.")
    alias = alias or Path(model).stem
    print(f"serving {model} as '{alias}' on http://127.0.0.1:{port}/v1 -- litellm model 'hosted_vllm/{alias}', "
          f"api_base http://127.0.0.1:{port}/v1", file=sys.stderr)
    try:
        return subprocess.call(server_command(Path(model), port=port, alias=alias, n_ctx=n_ctx))
    except KeyboardInterrupt:
        return 0
