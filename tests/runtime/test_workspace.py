"""Every path argument goes through one helper that keeps it inside the workspace."""

from __future__ import annotations

import os

import pytest

from specialize.runtime.errors import InvalidInput, NotFound, PathEscape
from specialize.runtime.workspace import (check_stem, make_dirs, open_write, resolve_path, workspace_root, write_bytes,
                                          write_text)


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


@pytest.mark.parametrize("bad", ["x" * 5000, "a/" * 600 + "f", "d/" + "n" * 300 + ".jsonl", "x" * 1_000_000])
def test_over_long_paths_are_a_clear_error_naming_the_argument(workspace, bad):
    with pytest.raises(InvalidInput) as err:
        resolve_path(bad, arg="input_path", must_exist=True)
    text = str(err.value)
    assert "'input_path'" in text and "Fix:" in text and len(text) < 500


def test_unencodable_path_text_is_refused(workspace):
    with pytest.raises(InvalidInput) as err:
        resolve_path("data/\ud800.jsonl", arg="eval_set")
    assert "'eval_set'" in str(err.value)


def test_a_symlink_loop_is_a_clear_error(workspace):
    (workspace / "loop").symlink_to(workspace / "loop")
    with pytest.raises((InvalidInput, NotFound)) as err:
        resolve_path("loop/x", arg="dataset", must_exist=True)
    assert "'dataset'" in str(err.value)


def test_open_write_refuses_symlinked_files_dangling_or_not(workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kept.txt").write_text("keep")
    (workspace / "out").mkdir()
    (workspace / "out" / "dangling.json").symlink_to(outside / "new.json")
    (workspace / "out" / "existing.txt").symlink_to(outside / "kept.txt")
    (workspace / "out" / "inside.txt").symlink_to(workspace / "out" / "real.txt")  # even one staying inside
    for name in ("dangling.json", "existing.txt", "inside.txt"):
        for mode in ("w", "a", "wb"):
            with pytest.raises(PathEscape) as err:
                open_write(workspace / "out" / name, mode, arg="out_dir")
            assert "'out_dir'" in str(err.value) and "symlink" in str(err.value)
    assert sorted(p.name for p in outside.iterdir()) == ["kept.txt"] and (outside / "kept.txt").read_text() == "keep"
    assert not (workspace / "out" / "real.txt").exists()


def test_writes_through_a_symlinked_folder_that_leads_out_are_refused(workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "linked").symlink_to(outside)
    with pytest.raises(PathEscape):
        write_text(workspace / "linked" / "x.txt", "x", arg="output")
    with pytest.raises(PathEscape):
        make_dirs(workspace / "linked" / "sub", arg="out_dir")
    assert list(outside.iterdir()) == []
    (workspace / "real").mkdir()
    (workspace / "alias").symlink_to(workspace / "real")  # a folder link that stays inside is fine
    write_text(workspace / "alias" / "ok.txt", "ok")
    assert (workspace / "real" / "ok.txt").read_text() == "ok"


def test_open_write_plain_files_truncate_append_and_exclusive(workspace):
    path = workspace / "f.txt"
    write_text(path, "one\n")
    write_text(path, "two\n")
    with open_write(path, "a") as fh:
        fh.write("three\n")
    assert path.read_text() == "two\nthree\n"
    with pytest.raises(InvalidInput):
        open_write(path, "w", exclusive=True)
    write_bytes(workspace / "b.bin", b"\x00\x01")
    assert (workspace / "b.bin").read_bytes() == b"\x00\x01"
    with pytest.raises(InvalidInput):
        make_dirs(path, arg="out_dir")  # a file where a folder should be


@pytest.mark.parametrize("bad", ["../x", "/abs/x", "a/b", "..", ".hidden", "", "x" * 200, "a\x00b", "~", "a b"])
def test_file_stems_are_plain_names(bad):
    with pytest.raises(InvalidInput) as err:
        check_stem(bad, arg="name")
    assert "'name'" in str(err.value)


def test_good_file_stems_pass():
    for good in ("tiny", "tiny-v1.2", "Qwen2.5-0.5B_sft+dpo"):
        assert check_stem(good, arg="name") == good


def test_text_or_file_keeps_text_and_confines_what_names_a_file(workspace, tmp_path):
    from pydantic import BaseModel, ValidationError

    from specialize.runtime.workspace import TextOrFile, names_a_file

    class P(BaseModel):
        system_prompt: TextOrFile | None = None

    (workspace / "prompt.md").write_text("Be brief.")
    (tmp_path / "secret.txt").write_text("nope")
    # prose, even prose that mentions a file or holds a slash, stays text and is never opened
    for text in ("You are a careful triage assistant.", "Answer in JSON.\nSee notes.txt", "x" * 5000, "a/b c"):
        assert P(system_prompt=text).system_prompt == text
        assert not names_a_file(text)
    assert names_a_file("prompt.md") and names_a_file("prompts/new.TXT") and names_a_file("./p")
    assert P(system_prompt="prompt.md").system_prompt == "prompt.md"
    for bad in ("../secret.txt", str(tmp_path / "secret.txt"), "~/p.txt", "y" * 5000 + ".txt"):
        with pytest.raises((ValidationError, PathEscape, InvalidInput)) as err:
            P(system_prompt=bad)
        assert "system_prompt" in str(err.value)


def test_inputs_must_exist_at_validation_and_a_new_file_is_confined_like_a_write(workspace, tmp_path):
    from pydantic import BaseModel

    from specialize.runtime.workspace import InputFile, InputOrNewFile, NameOrPath

    class P(BaseModel):
        dataset: InputFile | None = None
        golden: InputOrNewFile | None = None
        model: NameOrPath | None = None

    with pytest.raises(NotFound) as err:  # refused before any tool body (or job) runs
        P(dataset="data/missing.jsonl")
    assert "dataset" in str(err.value)
    (workspace / "rows.jsonl").write_text("{}\n")
    assert P(dataset="rows.jsonl").dataset == "rows.jsonl"
    assert P(golden="eval/new_golden.jsonl").golden == "eval/new_golden.jsonl"  # carved later, inside
    assert P(golden="builtin:tasks/support-triage/task.yaml").golden  # an existing bundled file is read
    with pytest.raises(PathEscape):
        P(golden="builtin:tasks/support-triage/not_there.jsonl")  # would be created in the references
    (workspace / "plant").mkdir()
    (workspace / "plant" / "dangling.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    with pytest.raises(PathEscape):
        P(golden="plant/dangling.jsonl")
    assert P(model="HuggingFaceTB/SmolLM2-135M-Instruct").model  # a name that is not in the workspace stays a name
