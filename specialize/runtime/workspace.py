"""The workspace: one folder holding every artifact, and the one helper every path argument goes through.

Relative paths are taken relative to the workspace root. A path is refused when, after resolving ``..``
and symlinks, it lands outside the workspace. Read-only inputs may also come from the package's bundled
references (``builtin:tasks/support-triage/schema.json``) or from folders listed in
``SPECIALIZE_READ_ROOTS`` (for example a folder of local base models).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from specialize.runtime.errors import NotFound, PathEscape

ENV_WORKSPACE = "SPECIALIZE_WORKSPACE"
ENV_READ_ROOTS = "SPECIALIZE_READ_ROOTS"
BUILTIN_PREFIX = "builtin:"


def workspace_root(create: bool = True) -> Path:
    """The workspace folder: ``$SPECIALIZE_WORKSPACE`` or ``./specialize-workspace``."""
    root = Path(os.environ.get(ENV_WORKSPACE) or "specialize-workspace").expanduser()
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def references_root() -> Path:
    """The bundled reference data shipped inside the package."""
    return Path(str(resources.files("specialize.references")))


def skills_root() -> Path:
    """The bundled skill playbooks shipped inside the package."""
    return Path(str(resources.files("specialize.skills")))


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _read_roots() -> list[Path]:
    extra = os.environ.get(ENV_READ_ROOTS, "")
    return [Path(p).expanduser().resolve() for p in extra.split(os.pathsep) if p.strip()]


def resolve_path(
    value: str | os.PathLike[str],
    *,
    arg: str,
    must_exist: bool = False,
    for_write: bool = False,
    root: Path | None = None,
) -> Path:
    """Resolve a path argument safely.

    ``arg`` names the argument so the error can say which one was refused. Writes must land inside the
    workspace; reads may also come from ``builtin:`` references or ``SPECIALIZE_READ_ROOTS``.
    """
    ws = (root or workspace_root()).resolve()
    text = os.fspath(value)
    if not text.strip():
        raise PathEscape(f"Argument '{arg}' is an empty path.", fix="Pass a path inside the workspace.")
    if "\x00" in text:
        raise PathEscape(f"Argument '{arg}' contains a NUL byte.", fix="Pass a plain file path.")

    if text.startswith(BUILTIN_PREFIX):
        if for_write:
            raise PathEscape(
                f"Argument '{arg}' points into the bundled references ({text}), which are read-only.",
                fix="Write to a path inside the workspace instead.",
            )
        ref_root = references_root().resolve()
        candidate = (ref_root / text[len(BUILTIN_PREFIX):]).resolve()
        if not _inside(candidate, ref_root):
            raise PathEscape(f"Argument '{arg}' ({text}) leaves the bundled references.", fix="Remove '..'.")
        if must_exist and not candidate.exists():
            raise NotFound(f"Argument '{arg}': bundled reference {text} does not exist.",
                           fix="List what ships with `specialize references`.")
        return candidate

    raw = Path(text).expanduser()
    candidate = raw if raw.is_absolute() else ws / raw
    resolved = candidate.resolve()  # follows symlinks, collapses '..'
    # bundled references are readable by absolute path too (a task card names files beside itself)
    allowed = [ws] if for_write else [ws, references_root().resolve(), *_read_roots()]
    if not any(_inside(resolved, r) for r in allowed):
        how = "a symlink that leads" if resolved != Path(os.path.abspath(candidate)) else "a path that lies"
        raise PathEscape(
            f"Argument '{arg}' ({text}) is {how} outside the workspace {ws}.",
            fix=(
                "Use a path inside the workspace (relative paths are taken from its root), copy the file "
                f"there, or for read-only inputs add its folder to ${ENV_READ_ROOTS}."
            ),
        )
    if must_exist and not resolved.exists():
        raise NotFound(f"Argument '{arg}': {text} does not exist (looked at {resolved}).",
                       fix="Check the path; relative paths are taken from the workspace root.")
    return resolved


def rel(path: Path, root: Path | None = None) -> str:
    """A path as shown to users: relative to the workspace when it lies inside it."""
    ws = (root or workspace_root()).resolve()
    try:
        return str(Path(path).resolve().relative_to(ws))
    except ValueError:
        return str(path)
