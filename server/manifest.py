"""The tool manifest: every tool's name, description, schemas and hints, cached on disk so the server can list
its tools without importing the tool modules or building their pydantic models.

Start-up cost is dominated by model building (the SDK's own types, then ours). The manifest is computed from
the catalog exactly as ``to_mcp_tool`` publishes it and stored under the user cache, keyed by a hash of the
package's source files and the versions that shape a JSON schema, so any edit to a tool, a model or a
dependency yields a fresh manifest. A tool module is imported the first time that tool is called
(``server/lazy.py``). An unreadable or unwritable cache only costs the time: the manifest is then computed in
memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST_FORMAT = 1
_PACKAGES = ("specialize", "specialize.tools", "specialize.server")


def cache_dir() -> Path:
    explicit = os.environ.get("SPECIALIZE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "specialize"


def _source_roots() -> list[Path]:
    import importlib.util

    roots = []
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            roots.extend(Path(p) for p in spec.submodule_search_locations)
    return roots


def source_key() -> str:
    """A hash over every Python source file of the package (path, size, modification time: the test CPython
    uses for its bytecode cache) plus the versions that shape the schemas."""
    digest = hashlib.sha256()
    for dist in ("specialize", "mcp", "pydantic", "pydantic_core"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{dist}={version};".encode())
    digest.update(f"python={sys.version_info[:2]};format={MANIFEST_FORMAT};".encode())
    for root in _source_roots():
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            st = path.stat()
            digest.update(f"{path.relative_to(root).as_posix()}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:24]


def compute_manifest() -> list[dict[str, Any]]:
    """Import every tool and describe it the way the MCP server publishes it."""
    from specialize.server.adapters import to_mcp_tool

    from specialize.runtime.catalog import load_all

    entries = []
    for spec in load_all().values():
        tool = to_mcp_tool(spec)
        entries.append({
            "name": tool.name,
            "title": tool.title,
            "description": tool.description,
            "input_schema": tool.parameters,
            "output_schema": tool.output_schema,
            "annotations": tool.annotations.model_dump(mode="json", exclude_none=True) if tool.annotations else None,
            "module": spec.fn.__module__,
        })
    return entries


def load_manifest() -> list[dict[str, Any]]:
    """The cached manifest for this exact source tree, computing and storing it on a miss."""
    key = source_key()
    path = cache_dir() / f"tool-manifest-{key}.json"
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("key") == key and isinstance(data.get("tools"), list):
            return data["tools"]
    except (OSError, ValueError):
        pass
    tools = compute_manifest()
    _store(path, {"key": key, "tools": tools})
    return tools


def _store(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
        for old in path.parent.glob("tool-manifest-*.json"):  # keep only the current tree's manifest
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only home: the server still works, it just computes the manifest each start
