"""export_gguf: a really trained tiny model goes through merge, llama.cpp conversion, quantization and checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from specialize.export.modelcard import ollama_template, parse_modelfile, render_ollama_template, stop_tokens
from specialize.export.quant_ladder import (ladder_metric, load_golden, paired_compare, recommend, score_outputs,
                                              task_type_for)
from specialize.runtime import jobs
from specialize.runtime.errors import InvalidInput
from tests.helpers.tiny_run import CONVERSATIONS, train_tiny_run


# -- fast: scorer, statistics, Modelfile template ------------------------------------------------------------
def test_ladder_scores_with_run_eval_metrics():
    from specialize.evaluation.metrics import aggregate, score_example

    ref = '{"category": "billing", "priority": "high"}'
    rows = [{"messages": [{"role": "user", "content": f"ticket {i}"}, {"role": "assistant", "content": ref}]}
            for i in range(4)]
    answers = [ref, '{"category": "billing", "priority": "low"}', "not json", None]
    outputs = [{"text": a, "stopped": a is not None, "tokens": 3} for a in answers]
    assert task_type_for(rows) == "extraction"
    assert ladder_metric("extraction", "auto") == "field_match"
    assert ladder_metric("extraction", "exact") == "exact_match"
    items, metrics = score_outputs("extraction", rows, outputs, n_resamples=200, seed=3)
    assert [i["field_match"] if "field_match" in i else None for i in items] == [1.0, 0.5, 0.0, None]
    assert [i["runaway"] for i in items] == [False, False, False, True]
    assert metrics["field_match"] == 1.5 / 4 and metrics["exact_match"] == 0.25
    # the very numbers run_eval would report for these answers, interval included
    recs = [score_example("extraction", a, ref, label_field=None, critical_fields=[]) for a in answers]
    expected = aggregate("extraction", recs, label_field=None, critical_fields=[], n_resamples=200, seed=3)
    assert metrics == {k: v for k, v in expected.items() if not isinstance(v, dict) and k != "error_types"}
    # a free-text reference makes it a whole-answer match, and json_field then cannot apply
    text_rows = rows[:1] + [{"messages": [{"role": "user", "content": "x"},
                                          {"role": "assistant", "content": "feature request"}]}]
    assert task_type_for(text_rows) == "classification" and ladder_metric("classification", "exact") == "accuracy"
    with pytest.raises(InvalidInput, match="json_field"):
        ladder_metric("classification", "json_field")
    _, text_metrics = score_outputs("classification", text_rows[1:], [{"text": " Feature  request", "stopped": True,
                                                                        "tokens": 2}], n_resamples=200)
    assert text_metrics["accuracy"] == 1.0


def test_load_golden_rejects_rows_with_reasons(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text("\n".join([
        json.dumps({"messages": CONVERSATIONS[0]}),
        json.dumps({"messages": CONVERSATIONS[0][:-1]}),  # no reference
        "{broken",
    ]))
    ok, bad = load_golden(path)
    assert len(ok) == 1 and [b["line"] for b in bad] == [2, 3]
    assert all(b["reason"] for b in bad)


def test_paired_statistics_and_recommendation():
    ref = [1.0] * 40
    worse = [1.0] * 30 + [0.0] * 10
    cmp = paired_compare(ref, worse, "exact_match")
    assert cmp["test"] == "mcnemar_exact"
    assert cmp["delta"] == -25.0 and cmp["worse"] == 10 and cmp["p_value"] < 0.01
    assert cmp["ci_high"] < 0
    same = paired_compare(ref, ref, "exact_match")
    assert same["p_value"] == 1.0 and same["delta"] == 0.0
    assert paired_compare(ref, [0.5] * 40, "field_match")["test"] == "wilcoxon"

    def res(scores, size, runaways=0):
        return {"items": [{"exact_match": bool(s)} for s in scores], "file_bytes": size, "runaways": runaways}

    files = {"q8_0": res(ref, 200), "q4_k_m": res(worse, 100), "q2": res(ref, 50, runaways=1)}
    rec = recommend(res(ref, 400), files, "exact_match", tolerance=1.0)
    assert rec["recommended"] == "q8_0"
    assert files["q4_k_m"]["within_tolerance"] is False and files["q2"]["within_tolerance"] is False


def test_ollama_template_with_a_default_system_prompt():
    import jinja2

    tpl = jinja2.Template(
        "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nDefault.<|im_end|>\n{% endif %}"
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "<|im_start|>assistant\n")
    render = lambda msgs: tpl.render(messages=msgs)  # noqa: E731
    go = ollama_template(render)
    assert "{{ else }}" in go
    for system in (None, "Be brief."):
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": "hi"}]
        assert render_ollama_template(go, system, "hi") == render(msgs)
    assert stop_tokens("<|endoftext|>", render([{"role": "user", "content": "x"}])) == ["<|endoftext|>",
                                                                                         "<|im_end|>"]


@pytest.mark.slow
def test_ladder_and_run_eval_score_a_real_gguf_alike(workspace):
    """The ladder answers and scores through run_eval's code: same answers, same metrics, same intervals."""
    from specialize.tools.evaluate import RunEvalParams, evaluate

    from specialize.export.quant_ladder import evaluate_rows
    from specialize.runtime.embedded import embedded_gguf_path

    rows = [{"messages": c} for c in CONVERSATIONS]
    (workspace / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    doc = evaluate(RunEvalParams(model="embedded:smollm2-135m", eval_set="golden.jsonl", task_type="classification",
                                 max_tokens=12))
    alone = evaluate_rows("gguf", embedded_gguf_path(), rows, max_new_tokens=12)
    here = evaluate_rows("gguf", embedded_gguf_path(), rows, max_new_tokens=12, in_process=True)
    assert [i["output"] for i in alone["items"]] == [e["prediction"] for e in doc["examples"]]
    assert [i["output"] for i in here["items"]] == [e["prediction"] for e in doc["examples"]]
    headline = {k: v for k, v in doc["metrics"].items() if not isinstance(v, dict) and k != "error_types"}
    assert alone["metrics"] == headline == here["metrics"] and "accuracy_ci" in headline
    assert alone["task_type"] == "classification"  # one golden answer is free text
    assert alone["peak_rss_mb"] > 50 and here["peak_rss_mb"] is None  # memory only where it is the model's own
    assert alone["tokens_per_s"] > 0 and alone["load_s"] > 0


# -- slow: the real thing -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_ws(tiny_model_dir, tmp_path_factory):
    """A workspace holding a really trained run of the tiny model (answers the three prompts, then EOS)."""
    ws = tmp_path_factory.mktemp("export-ws")
    train_tiny_run(tiny_model_dir, ws / "trainrun")
    shutil.copy(ws / "trainrun" / "golden.jsonl", ws / "golden.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPECIALIZE_WORKSPACE", str(ws))
        yield ws


@pytest.fixture(scope="module")
def exported(trained_ws):
    from specialize.tools.export import ExportGgufParams, export_gguf

    handle = export_gguf(ExportGgufParams(source="trainrun", quants=["f16", "q8_0"], golden_path="golden.jsonl",
                                          max_new_tokens=40))
    status = jobs.wait(handle.job_id, timeout=600)
    assert status["state"] == "succeeded", status.get("error") or status.get("log_tail")
    return Path(handle.run_dir), status["result"]


@pytest.mark.slow
def test_export_f16_and_q8_0_answer_like_transformers_and_stop(exported, trained_ws):
    import llama_cpp

    run_dir, result = exported
    assert {f["quant"] for f in result["files"]} == {"f16", "q8_0"}
    assert all(r["ok"] for r in result["roundtrip"].values())
    rows = {r["name"]: r for r in result["ladder"]["rows"]}
    assert rows["merged"]["score"]["mean"] == 100.0  # the trained model answers its prompts
    for q in ("f16", "q8_0"):
        assert rows[q]["same_output_as_merged"] == 1.0
        assert rows[q]["stopped_pct"] == 100.0 and rows[q]["runaways"] == 0
        assert rows[q]["tokens_per_s"] > 0 and rows[q]["peak_rss_mb"] > 0
    # and independently of the ladder: load each file and ask
    for f in result["files"]:
        llm = llama_cpp.Llama(model_path=str(trained_ws / f["path"]), n_ctx=512, verbose=False)
        for conv in CONVERSATIONS:
            out = llm.create_chat_completion(messages=conv[:-1], temperature=0.0, max_tokens=40)
            assert out["choices"][0]["message"]["content"] == conv[-1]["content"]
            assert out["choices"][0]["finish_reason"] == "stop"


@pytest.mark.slow
def test_modelfile_template_and_stops_match_the_chat_template(exported, trained_ws):
    from transformers import AutoTokenizer

    run_dir, result = exported
    mf = parse_modelfile((run_dir / "Modelfile").read_text())
    assert (run_dir / mf["from"]).is_file() and mf["from"].endswith(f".{result['recommended']}.gguf")
    assert mf["parameters"]["stop"] == ["<|im_end|>"]
    assert mf["parameters"]["temperature"] == [0.0] and mf["parameters"]["top_p"] == [1.0]
    assert mf["parameters"]["repeat_penalty"] == [1.05]
    tok = AutoTokenizer.from_pretrained(trained_ws / "trainrun" / "adapter")
    for conv in CONVERSATIONS:
        system = conv[0]["content"] if conv[0]["role"] == "system" else None
        expected = tok.apply_chat_template(conv[:-1], tokenize=False, add_generation_prompt=True)
        assert render_ollama_template(mf["template"], system, conv[-2]["content"]) == expected
    card = (run_dir / "MODEL_CARD.md").read_text()
    assert "ds-tinytest0000" in card and "| q8_0 | 100.0 |" in card and "Recommended quant" in card


@pytest.mark.slow
def test_mismatched_chat_template_is_an_error_with_both_renderings(trained_ws):
    from specialize.tools.export import ExportGgufParams, export_gguf

    run = json.loads((trained_ws / "trainrun" / "run.json").read_text())
    wrong = run["chat_template"].replace("'\n'", "'\n\n'")
    assert wrong != run["chat_template"]
    handle = export_gguf(ExportGgufParams(source="trainrun", quants=["f16"], embed_chat_template=wrong))
    status = jobs.wait(handle.job_id, timeout=300)
    assert status["state"] == "failed"
    error = status["error"]
    assert "does not reproduce the training-time prompt" in error
    assert "training (transformers) rendering" in error and "GGUF (llama.cpp) rendering" in error
    assert "<|im_start|>user\\n\\n" in error  # the GGUF side shows the doubled newline


@pytest.mark.slow
def test_quant_that_barely_applies_is_reported(exported, trained_ws, tmp_path):
    from specialize.tools.export import quantize

    from specialize.export.gguf_checks import quant_coverage

    _, result = exported
    f16 = trained_ws / next(f["path"] for f in result["files"] if f["quant"] == "f16")
    q4 = quantize(f16, tmp_path / "m.q4_k_m.gguf", "q4_k_m")
    cov = quant_coverage(q4, "q4_k_m")  # hidden size 64: no row is a multiple of 256
    assert cov["intended_share"] < 0.9 and "barely applies" in cov["warning"]
    assert quant_coverage(f16, "f16")["intended_share"] == 1.0


@pytest.mark.slow
def test_served_model_answers_through_litellm(exported, trained_ws):
    import litellm

    from specialize.export.serving import start_server

    _, result = exported
    q8 = trained_ws / next(f["path"] for f in result["files"] if f["quant"] == "q8_0")
    proc, api_base = start_server(q8, alias="tiny")
    try:
        for conv in CONVERSATIONS[:2]:
            resp = litellm.completion(model="openai/tiny", api_base=api_base, api_key="local",
                                      messages=conv[:-1], temperature=0, max_tokens=40)
            assert resp.choices[0].message.content == conv[-1]["content"]
            assert resp.choices[0].finish_reason == "stop"
    finally:
        proc.terminate()
        proc.wait(15)


def test_source_that_is_not_a_model_is_refused(workspace):
    from specialize.tools.export import ExportGgufParams, export_gguf

    (workspace / "empty").mkdir()
    with pytest.raises(InvalidInput):
        export_gguf(ExportGgufParams(source="empty"))
    with pytest.raises(Exception, match="unknown quant"):
        ExportGgufParams(source="empty", quants=["q3"])


@pytest.mark.slow
def test_plain_model_that_never_stops_fails_the_stop_check(tiny_model_dir, workspace):
    """An untrained model (no adapter) exports, but never emits EOS: the job says no file passed."""
    from specialize.tools.export import ExportGgufParams, export_gguf

    shutil.copytree(tiny_model_dir, workspace / "base")
    handle = export_gguf(ExportGgufParams(source="base", quants=["q8_0"], max_new_tokens=16))
    status = jobs.wait(handle.job_id, timeout=300)
    assert status["state"] == "failed"
    assert "No exported file passed its checks" in status["error"]
    assert (Path(handle.run_dir) / "base.q8_0.gguf").is_file()
    assert json.loads((Path(handle.run_dir) / "roundtrip.json").read_text())["q8_0"]["ok"] is True
