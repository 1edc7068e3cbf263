"""The workspace registries: append-only JSONL files that name every dataset version and every run.

``registry/datasets.jsonl`` gives each accepted set and split a content-hash version (path, rows, sha256,
parents, the gate configuration that produced it), so a training run can name the exact data it used.
``registry/runs.jsonl`` records every training or export run with its config, method and results.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
from pathlib import Path
from typing import Any

from specialize.runtime.errors import NotFound
from specialize.runtime.workspace import rel, workspace_root


def registry_dir(root: Path | None = None) -> Path:
    path = (root or workspace_root()) / "registry"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _append(name: str, entry: dict[str, Any]) -> None:
    path = registry_dir() / name
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(entry, default=str) + "\n")
        fcntl.flock(fh, fcntl.LOCK_UN)


def _read(name: str) -> list[dict[str, Any]]:
    path = registry_dir() / name
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def record_dataset(path: Path, *, kind: str, parents: list[str] | None = None,
                   config: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Register a JSONL file as a dataset version; the version is ``ds-`` + the first 12 hex of its sha256.

    Registering the same content twice returns the existing entry.
    """
    digest = sha256_file(path)
    version = f"ds-{digest[:12]}"
    for entry in _read("datasets.jsonl"):
        if entry["version"] == version and entry["path"] == rel(path):
            return entry
    entry = {
        "version": version,
        "kind": kind,
        "path": rel(path),
        "rows": count_lines(path),
        "sha256": digest,
        "parents": parents or [],
        "config": config or {},
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    _append("datasets.jsonl", entry)
    return entry


def find_dataset(path_or_version: str | Path) -> dict[str, Any]:
    """The newest registry entry for a dataset path or version; registers an unknown file on the fly."""
    entries = _read("datasets.jsonl")
    key = str(path_or_version)
    for entry in reversed(entries):
        if entry["version"] == key:
            return entry
    path = Path(key)
    path = path if path.is_absolute() else workspace_root() / path
    if not path.exists():
        raise NotFound(f"No dataset version or file '{key}'.", fix="Pass a path in the workspace or a ds-… version.")
    digest = sha256_file(path)
    for entry in reversed(entries):
        if entry["sha256"] == digest:
            return entry
    return record_dataset(path, kind="external")


def datasets() -> list[dict[str, Any]]:
    return _read("datasets.jsonl")


def _record(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Append ``entry`` to ``registry/<name>``, stamped with the time (UTC); returns what was written."""
    entry = {"recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **entry}
    _append(name, entry)
    return entry


def record_run(entry: dict[str, Any]) -> dict[str, Any]:
    return _record("runs.jsonl", entry)


def runs() -> list[dict[str, Any]]:
    return _read("runs.jsonl")


def record_ship(entry: dict[str, Any]) -> dict[str, Any]:
    """Append a ship decision to ``registry/shipped.jsonl``: the newest entry is the version in production."""
    return _record("shipped.jsonl", entry)


def shipped() -> list[dict[str, Any]]:
    """Every recorded ship decision, oldest first."""
    return _read("shipped.jsonl")


def last_shipped() -> dict[str, Any] | None:
    found = shipped()
    return found[-1] if found else None
