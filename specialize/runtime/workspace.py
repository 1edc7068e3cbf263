"""The workspace: one folder holding every artifact, and the one helper every path argument goes through.

Relative paths are taken relative to the workspace root. A path is refused when, after resolving ``..``
and symlinks, it lands outside the workspace. Read-only inputs may also come from the package's bundled
references (``builtin:tasks/support-triage/schema.json``) or from folders listed in
``SPECIALIZE_READ_ROOTS`` (for example a folder of local base models).

Checking a path when the call starts is not enough for writes: a symlink planted inside an output folder
(``out/summary.json -> /elsewhere``) would redirect the file. So every writer opens its files through
``open_write`` (and ``write_text`` / ``write_bytes`` / ``make_dirs``), which refuses a symlink at the last
component (``O_NOFOLLOW``) and checks, at write time, that a path lying in the workspace really lands there.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ValidationInfo

from specialize.runtime.errors import InvalidInput, NotFound, PathEscape, SpecializeError

ENV_WORKSPACE = "SPECIALIZE_WORKSPACE"
ENV_READ_ROOTS = "SPECIALIZE_READ_ROOTS"
BUILTIN_PREFIX = "builtin:"
MAX_PATH_CHARS = 1024  # longer than any real artifact path here, far below the kernel's 4096
MAX_COMPONENT_BYTES = 255  # the usual file-name limit of Linux and macOS file systems
_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


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
    check_path_text(text, arg=arg)

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
    try:
        resolved = candidate.resolve()  # follows symlinks, collapses '..'
    except (OSError, RuntimeError) as exc:  # a symlink loop, or a name the file system refuses
        raise InvalidInput(f"Argument '{arg}' ({_short(text)}) cannot be resolved: {getattr(exc, 'strerror', None) or exc}.",
                           fix="Pass a plain path inside the workspace, without looping symlinks.") from exc
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


def _short(text: str, limit: int = 80) -> str:
    """A path shortened for an error message (a megabyte-long argument is not echoed back whole)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_path_text(text: str, *, arg: str) -> None:
    """Refuse path text no file system would accept: empty, NUL bytes, unencodable, or too long.

    Each refusal names the argument, so a caller learns which of several paths was wrong.
    """
    if not text.strip():
        raise PathEscape(f"Argument '{arg}' is an empty path.", fix="Pass a path inside the workspace.")
    if "\x00" in text:
        raise PathEscape(f"Argument '{arg}' contains a NUL byte.", fix="Pass a plain file path.")
    if len(text) > MAX_PATH_CHARS:
        raise InvalidInput(f"Argument '{arg}' is a path of {len(text)} characters; at most {MAX_PATH_CHARS} are "
                           "accepted.", fix="Pass a shorter path inside the workspace.")
    try:
        encoded = os.fsencode(text)
    except UnicodeError as exc:
        raise InvalidInput(f"Argument '{arg}' ({_short(ascii(text))}) holds characters that cannot be a file "
                           "name (a lone surrogate).", fix="Pass a path of valid Unicode text.") from exc
    longest = max(len(part) for part in encoded.split(b"/"))
    if longest > MAX_COMPONENT_BYTES:
        raise InvalidInput(f"Argument '{arg}' ({_short(text)}) has a file or folder name of {longest} bytes; the "
                           f"file system allows {MAX_COMPONENT_BYTES}.", fix="Use shorter names.")


def check_stem(value: str, *, arg: str) -> str:
    """A plain file-name stem: letters, digits, '.', '_', '+' and '-', no folder part, at most 128 characters.

    Used for arguments that name files a tool creates (``export_gguf``'s ``name``), so they cannot climb out of
    the output folder or point at an absolute path.
    """
    if not _STEM.fullmatch(value) or value in (".", "..") or ".." in value:
        raise InvalidInput(
            f"Argument '{arg}' ({_short(ascii(value))}) is not a plain file name.",
            fix="Use 1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit, with no '/', "
                "no '..' and no absolute path; the file is always created in the tool's output folder.")
    return value


def _shown(path: Path) -> str:
    """A path as written in a refusal: relative to the workspace without following links, else absolute."""
    ws = workspace_root(create=False)
    try:
        return str(Path(os.path.abspath(path)).relative_to(ws))
    except ValueError:
        return str(path)


def _guard_real_location(path: Path, *, arg: str) -> Path:
    """The path with its parent folder resolved, refused when a path in the workspace really lands outside it."""
    path = Path(os.path.abspath(path))
    ws = workspace_root(create=False)
    ws_as_named = Path(os.path.abspath(Path(os.environ.get(ENV_WORKSPACE) or "specialize-workspace").expanduser()))
    real_parent = path.parent.resolve()
    if (_inside(path, ws) or _inside(path, ws_as_named)) and not _inside(real_parent, ws):
        raise PathEscape(
            f"Writing '{arg}' at {_shown(path)} would leave the workspace {ws}: a folder on the way is a symlink to "
            f"{real_parent}.", fix="Remove the symlinked folder or choose another output folder.")
    return real_parent / path.name


def make_dirs(path: Path | str, *, arg: str = "output") -> Path:
    """``mkdir -p`` that refuses to create (or reuse) folders outside the workspace through a symlink."""
    path = Path(path)
    _guard_real_location(path / "_", arg=arg)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise InvalidInput(f"Argument '{arg}': {_shown(path)} exists and is not a folder.",
                           fix="Choose another output folder or remove that file.") from exc
    _guard_real_location(path / "_", arg=arg)  # a folder swapped for a link while it was being made
    return path


def open_write(path: Path | str, mode: str = "w", *, arg: str = "output", exclusive: bool = False,
               **kwargs: Any) -> IO[Any]:
    """Open a file for writing without following a symlink at its last component.

    ``mode`` is ``"w"``, ``"wb"``, ``"a"`` or ``"ab"``; ``exclusive`` refuses an existing file (``O_EXCL``). A path
    inside the workspace must also really lie inside it once its folders are resolved. Other keyword arguments
    (encoding, buffering, newline) go to ``open``.
    """
    if mode.rstrip("b") not in ("w", "a"):
        raise ValueError(f"open_write supports 'w', 'wb', 'a' and 'ab', not {mode!r}")
    target = _guard_real_location(Path(path), arg=arg)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    if exclusive:
        flags |= os.O_EXCL
    try:
        fd = os.open(target, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and os.path.islink(target)):
            raise PathEscape(f"Refusing to write '{arg}' through the symlink {_shown(Path(path))} (it points to "
                             f"{os.readlink(target)}).", fix="Remove the link, or choose an output folder that "
                             "holds no symlinks.") from exc
        if exc.errno == errno.EEXIST:
            raise InvalidInput(f"Argument '{arg}': {_shown(Path(path))} already exists.",
                               fix="Choose a new name or remove the old file.") from exc
        if exc.errno == errno.EISDIR:
            raise InvalidInput(f"Argument '{arg}': {_shown(Path(path))} is a folder, not a file.",
                               fix="Choose another output path.") from exc
        raise
    return os.fdopen(fd, mode, **kwargs)


def write_text(path: Path | str, text: str, *, arg: str = "output", encoding: str = "utf-8") -> Path:
    """Write a text file through ``open_write`` (no symlink followed, kept inside the workspace)."""
    with open_write(path, "w", arg=arg, encoding=encoding) as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: Path | str, data: bytes, *, arg: str = "output") -> Path:
    """Write a binary file through ``open_write``."""
    with open_write(path, "wb", arg=arg) as fh:
        fh.write(data)
    return Path(path)


def looks_like_path(text: str) -> bool:
    """Whether an argument that may be a path or a name (a model, a tokenizer) is written as a path: absolute,
    ``./``, ``~``, ``builtin:``, or with a ``..`` part. Such text is always resolved, and refused when it leaves
    the workspace, rather than being passed on as a name."""
    return text.startswith(("/", "./", "~", "\\", BUILTIN_PREFIX)) or ".." in text.replace("\\", "/").split("/")


TEXT_FILE_SUFFIXES = (".txt", ".md", ".j2")


def names_a_file(text: str) -> bool:
    """Whether an argument that holds either text or the path of a text file (a system prompt) names a file:
    one line that is written as a path (``looks_like_path``), ends in .txt/.md/.j2, or names something that
    exists in the workspace. Anything else is the text itself and is never opened."""
    if "\n" in text:
        return False
    if looks_like_path(text) or text.lower().endswith(TEXT_FILE_SUFFIXES):
        return True
    return os.path.lexists(workspace_root(create=False) / text)  # False for NUL bytes and over-long text


def _stem_field(value: str, info: ValidationInfo) -> str:
    try:
        return check_stem(value, arg=info.field_name or "name")
    except InvalidInput as exc:  # a ValueError reaches the caller as a validation error naming the field
        raise ValueError(str(exc)) from None


FileStem = Annotated[str, AfterValidator(_stem_field)]
"""A params field naming a file the tool creates: checked by ``check_stem`` while the arguments are validated."""


# -- path fields of params models ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathArg:
    """What a params field holding a path expects: read or written, a file, a folder or either, and whether a
    plain name (a hub model id, a bundled rubric) is also allowed there.

    The field's type carries this as metadata, so code and tests find every path argument from the params
    models themselves (``path_fields``), and the field's validator refuses, while the arguments are validated
    and before any work starts, what no tool may use: text no file system accepts (NUL bytes, over-long paths
    and names), a path that leaves the workspace (``..``, absolute, ``~``, symlinks; reads may also use the
    bundled references and ``SPECIALIZE_READ_ROOTS``), a folder where a file is expected and a file where a
    folder is expected, and an input that does not exist (a name-or-path field that names nothing in the
    workspace is taken as a name, which the tool checks).
    """

    access: Literal["read", "write"]
    kind: Literal["file", "dir", "any"] = "any"
    may_be_name: bool = False
    may_be_text: bool = False
    may_create: bool = False  # read when it exists, else the tool creates it (then confined like a write)


SHAPE_ONLY = "shape_only"
"""Validation context key: ``Params.model_validate(args, context={SHAPE_ONLY: True})`` checks a call's shape and
confinement without asking its inputs to exist yet (a playbook's example call, a plan written before its data)."""


def _check_path_field(value: str, info: ValidationInfo, spec: PathArg) -> str:
    """Refuse a path argument that no tool may use, before any work starts; the value itself is kept as given.

    The refusals are the typed errors of ``resolve_path`` (``PathEscape``, ``InvalidInput``), raised as they are:
    pydantic passes them through unchanged, so a Python caller, the CLI and the MCP adapter see the same error
    whether it comes from here or from the tool.
    """
    arg = info.field_name or "path"
    exists = not (isinstance(info.context, dict) and info.context.get(SHAPE_ONLY))
    try:
        return _checked_path_field(value, arg, spec, inputs_exist=exists)
    except SpecializeError as exc:
        exc.details.setdefault("field", arg)  # lets an adapter report it as this field's validation error
        raise


def _checked_path_field(value: str, arg: str, spec: PathArg, *, inputs_exist: bool = True) -> str:
    if spec.may_be_text and not names_a_file(value):
        return value  # the text itself, never opened
    check_path_text(value, arg=arg)
    ws = workspace_root(create=False)
    if spec.may_be_name and not looks_like_path(value) and not os.path.lexists(ws / value):
        return value  # a model name or hub id: the tool decides what it names
    path = resolve_path(value, arg=arg, for_write=spec.access == "write", root=ws,
                        must_exist=inputs_exist and spec.access == "read" and not (spec.may_be_name or spec.may_create))
    if spec.may_create and not path.exists():
        path = resolve_path(value, arg=arg, for_write=True, root=ws)
    if spec.kind == "file" and path.is_dir():
        raise InvalidInput(f"Argument '{arg}' ({_short(value)}) is a folder; a file is expected here.",
                           fix="Pass the path of a file inside that folder.")
    if spec.kind == "dir" and path.exists() and not path.is_dir():
        raise InvalidInput(f"Argument '{arg}' ({_short(value)}) is a file; a folder is expected here.",
                           fix="Pass a folder, or a new name for one.")
    return value


def _path_type(spec: PathArg) -> Any:
    return Annotated[str, spec, AfterValidator(lambda v, info: _check_path_field(v, info, spec))]


InputFile = _path_type(PathArg("read", "file"))
"""A file the tool reads (inside the workspace, the bundled references or ``SPECIALIZE_READ_ROOTS``)."""
InputDir = _path_type(PathArg("read", "dir"))
"""A folder the tool reads."""
InputPath = _path_type(PathArg("read", "any"))
"""A file or a folder the tool reads."""
OutputFile = _path_type(PathArg("write", "file"))
"""A file the tool writes, inside the workspace."""
OutputDir = _path_type(PathArg("write", "dir"))
"""A folder the tool writes into, inside the workspace."""
NameOrPath = _path_type(PathArg("read", "any", may_be_name=True))
"""A name (a litellm model string, a hub id, a bundled rubric) or a path to read; text written as a path is
resolved and confined like any path."""
NameOrFile = _path_type(PathArg("read", "file", may_be_name=True))
"""A name or the path of a file to read (a rubric, a recipe)."""
InputOrNewFile = _path_type(PathArg("read", "file", may_create=True))
"""A file the tool reads when it exists (from anywhere an input may come from) and otherwise creates inside the
workspace (a golden set carved on first use)."""
TextOrFile = _path_type(PathArg("read", "file", may_be_text=True))
"""Text, or the path of a text file holding it (a system prompt); see ``names_a_file`` for which is which.
A value that names a file is confined like any input path."""


def path_fields(model: type[BaseModel]) -> dict[str, tuple[PathArg, bool]]:
    """Every path field of a params model: name -> (its ``PathArg``, whether it holds a list of paths)."""
    out: dict[str, tuple[PathArg, bool]] = {}
    for name, field in model.model_fields.items():
        found = _find_path_arg(field.annotation, field.metadata)
        if found is not None:
            out[name] = found
    return out


def _find_path_arg(annotation: Any, metadata: list[Any], in_list: bool = False) -> tuple[PathArg, bool] | None:
    for item in metadata:
        if isinstance(item, PathArg):
            return item, in_list
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return _find_path_arg(base, extra, in_list)
    for arg in get_args(annotation):
        found = _find_path_arg(arg, [], in_list or get_origin(annotation) in (list, tuple, set))
        if found is not None:
            return found
    return None
