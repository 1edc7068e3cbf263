"""Issue 14's escapes, each reproduced as it was reported and now refused: nothing is written, read or acted on
outside the workspace, and every refusal names the argument and says how to fix it."""

from __future__ import annotations

import json
import os
import time

import pytest
from specialize.tools.compare import CompareModelsParams, compare_models
from specialize.tools.evaluate import RunEvalParams, run_eval
from specialize.tools.export import ExportGgufParams
from specialize.tools.generate import GenerateBatchParams, generate_batch
from specialize.tools.job_tools import JobIdParams, JobLogsParams, job_cancel, job_logs, job_status
from specialize.tools.judge import RunPairwiseJudgeParams, run_pairwise_judge
from specialize.tools.split import SplitDatasetParams, split_dataset
from specialize.tools.validate import ValidateRowsParams, validate_rows
from pydantic import ValidationError

from specialize.runtime.catalog import get
from specialize.runtime.errors import JobError, NotFound, PathEscape, SpecializeError
from tests.helpers.fake_openai import FakeOpenAIServer
from tests.tools.test_compare import _judge, _model
from tests.tools.test_evaluate import _write_set
from tests.tools.test_generate import SCHEMA, teacher
from tests.tools.test_split import make_rows, write


@pytest.fixture()
def outside(tmp_path):
    path = tmp_path / "outside"
    path.mkdir()
    return path


def plant(ws, folder, name, target):
    """A symlinked file inside an output folder, pointing outside (dangling: the target does not exist yet)."""
    (ws / folder).mkdir(parents=True, exist_ok=True)
    (ws / folder / name).symlink_to(target)


def assert_refused(err, arg):
    text = str(err.value)
    assert isinstance(err.value, SpecializeError) and arg in text and "Fix:" in text, text


def test_export_name_cannot_climb_out(workspace, outside):
    for name in ("../../../outside/PWNED", str(outside / "PWNED"), "a/b", ".."):
        with pytest.raises(ValidationError) as err:
            ExportGgufParams(source="models/tiny", quants=["f16"], name=name)
        assert "name" in str(err.value) and "plain file name" in str(err.value)
    with pytest.raises(ValidationError):  # the call as the server and the CLI make it, from plain arguments
        get("export_gguf").run({"source": "models/tiny", "quants": ["f16"], "name": "../x"})
    assert ExportGgufParams(source="m", name="tiny-v1.2_final").name == "tiny-v1.2_final"
    assert list(outside.iterdir()) == []


def test_validate_rows_refuses_a_symlinked_summary(workspace, outside):
    write(workspace, "in.jsonl", make_rows(20))
    plant(workspace, "plant", "summary.json", outside / "x.json")
    with pytest.raises(PathEscape) as err:
        validate_rows(ValidateRowsParams(input_path="in.jsonl", out_dir="plant", record_version=False))
    assert_refused(err, "out_dir")
    assert "symlink" in str(err.value)
    assert not (outside / "x.json").exists() and list(outside.iterdir()) == []


@pytest.mark.parametrize("name", ["accepted.jsonl", "rejected.jsonl"])
def test_validate_rows_refuses_symlinked_row_files(workspace, outside, name):
    write(workspace, "in.jsonl", make_rows(5))
    (outside / "victim").write_text("keep me")
    plant(workspace, "plant", name, outside / "victim")
    with pytest.raises(PathEscape):
        validate_rows(ValidateRowsParams(input_path="in.jsonl", out_dir="plant", record_version=False))
    assert (outside / "victim").read_text() == "keep me"


def test_a_symlinked_output_folder_is_refused(workspace, outside):
    write(workspace, "in.jsonl", make_rows(5))
    (workspace / "data").mkdir()
    (workspace / "data" / "validated").symlink_to(outside)
    with pytest.raises(PathEscape) as err:
        validate_rows(ValidateRowsParams(input_path="in.jsonl", record_version=False))
    assert_refused(err, "out_dir")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("name", ["train.jsonl", "test.jsonl"])
def test_split_dataset_refuses_symlinked_split_files(workspace, outside, name):
    write(workspace, "rows.jsonl", make_rows(40))
    plant(workspace, "plant", name, outside / name)
    with pytest.raises(PathEscape) as err:
        split_dataset(SplitDatasetParams(input_path="rows.jsonl", out_dir="plant"))
    assert_refused(err, "out_dir")
    assert list(outside.iterdir()) == []


def test_split_dataset_refuses_a_dangling_golden_link(workspace, outside):
    write(workspace, "rows.jsonl", make_rows(40))
    (workspace / "golden.jsonl").symlink_to(outside / "golden.jsonl")
    with pytest.raises(PathEscape):  # the link leads out: refused before anything is carved
        split_dataset(SplitDatasetParams(input_path="rows.jsonl", out_dir="s", golden_path="golden.jsonl",
                                         golden_size=5))
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("name", ["batch_001.stats.json", "batch_001.done.jsonl"])
def test_generate_batch_refuses_symlinked_files_beside_the_batch(workspace, outside, name):
    (workspace / "schema.json").write_text(json.dumps(SCHEMA))
    plant(workspace, "gen", name, outside / name)
    with FakeOpenAIServer(teacher) as server:
        with pytest.raises(PathEscape) as err:
            generate_batch(GenerateBatchParams(
                model="openai/teacher", task_description="Sort support tickets.", schema_path="schema.json",
                categories=["billing"], difficulties=["easy"], rows_per_cell=2, rows_per_request=2, out_dir="gen",
                api_base=server.url))
    assert_refused(err, "out_dir")
    assert list(outside.iterdir()) == []


def test_generate_batch_refuses_a_symlinked_resume_batch(workspace, outside):
    (workspace / "schema.json").write_text(json.dumps(SCHEMA))
    plant(workspace, "gen", "batch_007.jsonl", outside / "rows.jsonl")
    with pytest.raises(PathEscape) as err:
        generate_batch(GenerateBatchParams(
            model="openai/teacher", task_description="t", schema_path="schema.json", categories=["billing"],
            difficulties=["easy"], rows_per_cell=2, out_dir="gen", resume_batch="gen/batch_007.jsonl"))
    assert_refused(err, "resume_batch")
    assert list(outside.iterdir()) == []


def test_run_eval_judge_and_compare_refuse_symlinked_outputs(workspace, outside):
    _write_set(workspace, extra_bad=False)
    plant(workspace, "evals", "flawed.json", outside / "eval.json")
    with FakeOpenAIServer(_model("flawed")) as server:
        common = dict(api_base=server.url, eval_set="eval.jsonl", task_type="extraction",
                      schema_path="schema.json", label_field="category")
        with pytest.raises(PathEscape) as err:
            run_eval(RunEvalParams(model="openai/flawed", output="evals/flawed.json", **common))
        assert_refused(err, "output")
        files = [run_eval(RunEvalParams(model=f"openai/{m}", output=f"evals/{m}-ok.json", **common)).results_path
                 for m in ("a", "b")]
    plant(workspace, "judged", "judgments.json", outside / "judgments.json")
    with FakeOpenAIServer(_judge) as server:
        args = dict(responses=files, judge_model="openai/judge", api_base=server.url, background=False)
        with pytest.raises(PathEscape) as err:
            run_pairwise_judge(RunPairwiseJudgeParams(output_dir="judged", **args))
        assert_refused(err, "output_dir")
    plant(workspace, "cmp", "report.md", outside / "report.md")
    with pytest.raises(PathEscape) as err:
        compare_models(CompareModelsParams(results=files, output_dir="cmp"))
    assert_refused(err, "output_dir")
    assert list(outside.iterdir()) == []


def test_validate_rows_tokenizer_is_confined_and_fails_fast(workspace, outside, tiny_model_dir):
    write(workspace, "in.jsonl", make_rows(5))
    with pytest.raises(PathEscape) as err:  # an absolute folder outside the workspace is not loaded
        validate_rows(ValidateRowsParams(input_path="in.jsonl", tokenizer=str(tiny_model_dir)))
    assert_refused(err, "tokenizer")
    with pytest.raises(PathEscape):
        validate_rows(ValidateRowsParams(input_path="in.jsonl", tokenizer="../outside"))
    # a relative path is taken from the workspace root, whatever the server's working directory
    import shutil

    shutil.copytree(tiny_model_dir, workspace / "tok")
    res = validate_rows(ValidateRowsParams(input_path="in.jsonl", tokenizer="tok", record_version=False))
    assert res.total == 5
    # a name that is neither a workspace folder nor a cached hub id ends quickly in a typed error
    started = time.monotonic()
    with pytest.raises(NotFound) as err:
        validate_rows(ValidateRowsParams(input_path="in.jsonl", tokenizer="no-such-org/no-such-tokenizer"))
    assert time.monotonic() - started < 10
    assert_refused(err, "tokenizer")


def _fake_job(folder, job_id):
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"job_id": job_id, "kind": "x", "entry": "x:y"}))
    (folder / "state.json").write_text(json.dumps({"job_id": job_id, "kind": "x", "state": "running",
                                                   "pid": os.getpid(), "created_at": "2020-01-01T00:00:00+00:00"}))
    (folder / "job.log").write_text("secret log line\n")


def test_job_tools_do_not_follow_a_symlinked_job_folder(workspace, outside):
    _fake_job(outside / "fakejob", "link_job")
    (workspace / "runs").mkdir()
    (workspace / "runs" / "link_job").symlink_to(outside / "fakejob")
    for call in (lambda: job_status(JobIdParams(job_id="link_job")),
                 lambda: job_logs(JobLogsParams(job_id="link_job")),
                 lambda: job_cancel(JobIdParams(job_id="link_job"))):
        with pytest.raises(JobError) as err:
            call()
        assert_refused(err, "job_id")
    assert not (outside / "fakejob" / "CANCEL").exists()
    assert sorted(p.name for p in (outside / "fakejob").iterdir()) == ["job.json", "job.log", "state.json"]


def test_job_tools_do_not_follow_symlinked_files_in_a_job_folder(workspace, outside):
    _fake_job(outside / "fakejob", "j1")
    (workspace / "runs" / "j1").mkdir(parents=True)
    for name in ("job.json", "state.json"):
        (workspace / "runs" / "j1" / name).symlink_to(outside / "fakejob" / name)
    with pytest.raises(JobError):
        job_status(JobIdParams(job_id="j1"))


def test_job_ids_that_are_paths_or_huge_are_refused(workspace):
    for bad in ("../x", "/etc", ".hidden", "a\x00b", "x" * 5000):
        with pytest.raises(NotFound) as err:
            job_status(JobIdParams(job_id=bad))
        assert "job_id" in str(err.value) and len(str(err.value)) < 400


def test_run_eval_refuses_a_model_path_outside_the_workspace(workspace, outside, tiny_model_dir):
    _write_set(workspace, extra_bad=False)
    for model in (str(tiny_model_dir), "../outside/model", "~/models/m"):
        with pytest.raises(PathEscape) as err:
            run_eval(RunEvalParams(model=model, eval_set="eval.jsonl", task_type="extraction"))
        assert_refused(err, "model")
