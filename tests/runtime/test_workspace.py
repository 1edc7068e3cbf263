"""Every path argument goes through one helper that keeps it inside the workspace."""

from __future__ import annotations

import os

import pytest

from specialize.runtime.errors import NotFound, PathEscape
from specialize.runtime.workspace import resolve_path, workspace_root


def test_relative_paths_land_in_the_workspace(workspace):
    assert workspace_root() == workspace.resolve()
    assert resolve_path("data/x.jsonl", arg="dataset") == workspace.resolve() / "data" / "x.jsonl"


@pytest.mark.parametrize("bad", ["../outside.jsonl", "data/../../outside", "/etc/passwd", "~/x.jsonl"])
def test_escapes_are_refused_and_name_the_argument(workspace, bad):
    with pytest.raises(PathEscape) as err:
        resolve_path(bad, arg="dataset")
    assert "'dataset'" in str(err.value)
    assert "Fix:" in str(err.value)


def test_symlink_leading_out_is_refused(workspace, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (workspace / "link.txt").symlink_to(outside)
    with pytest.raises(PathEscape) as err:
        resolve_path("link.txt", arg="eval_set")
    assert "symlink" in str(err.value)
    (workspace / "inner.txt").write_text("ok")
    (workspace / "inner-link.txt").symlink_to(workspace / "inner.txt")
    assert resolve_path("inner-link.txt", arg="x").read_text() == "ok"


def test_read_roots_allow_reads_but_not_writes(workspace, tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("SPECIALIZE_READ_ROOTS", str(models))
    assert resolve_path(str(models / "m"), arg="base_model") == models / "m"
    with pytest.raises(PathEscape):
        resolve_path(str(models / "m"), arg="output", for_write=True)


def test_builtin_references_are_read_only(workspace):
    path = resolve_path("builtin:__init__.py", arg="schema", must_exist=True)
    assert path.name == "__init__.py"
    with pytest.raises(PathEscape):
        resolve_path("builtin:../specialize/runtime/errors.py", arg="schema")
    with pytest.raises(PathEscape):
        resolve_path("builtin:x.yaml", arg="out", for_write=True)


def test_missing_file_is_not_found(workspace):
    with pytest.raises(NotFound) as err:
        resolve_path("nope.jsonl", arg="dataset", must_exist=True)
    assert "nope.jsonl" in str(err.value)


def test_env_workspace_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECIALIZE_WORKSPACE", str(tmp_path / "w2"))
    assert workspace_root() == (tmp_path / "w2").resolve()
    assert os.path.isdir(tmp_path / "w2")


def test_bundled_references_are_readable_by_absolute_path_but_not_writable(workspace):
    from specialize.runtime.workspace import references_root

    inside = references_root() / "__init__.py"
    assert resolve_path(str(inside), arg="schema", must_exist=True) == inside.resolve()
    with pytest.raises(PathEscape):
        resolve_path(str(inside), arg="out", for_write=True)
