"""The model interface with real backends: a tiny HF model (+ LoRA adapter), the embedded GGUF, a local server."""

from __future__ import annotations

import sys

import pytest

from specialize.evaluation.models import Generation, load_model
from specialize.runtime.errors import InvalidInput, UpstreamError
from tests.helpers.fake_openai import FakeOpenAIServer, FaultPlan

MSGS = [{"role": "user", "content": "My invoice was charged twice."}]


def test_litellm_backend_over_local_http(workspace):
    with FakeOpenAIServer() as server:
        m = load_model("openai/local-test", api_base=server.url)
        g = m.generate(MSGS, max_tokens=16)
        assert isinstance(g, Generation) and g.text == "echo: My invoice was charged twice."
        assert g.prompt_tokens > 0 and g.completion_tokens > 0 and g.latency_s > 0
        body_seen = server.counters.requests
        assert body_seen == 1
    with FakeOpenAIServer(faults=FaultPlan(p_500=1.0)) as bad:
        m = load_model("openai/local-test", api_base=bad.url)
        m.client.max_retries = 0
        out = m.generate_many([MSGS, MSGS])
        assert all(isinstance(r, UpstreamError) for r in out)


def test_litellm_greedy_by_default_and_hourly_price(workspace):
    with FakeOpenAIServer(keep_bodies=True) as server:
        m = load_model("openai/local-test", api_base=server.url, cost_per_hour_usd=3600.0)
        g = m.generate(MSGS, max_tokens=8)
        assert server.counters.bodies[0]["temperature"] == 0.0
        assert g.cost_usd == pytest.approx(g.latency_s, rel=1e-6)


def test_transformers_backend_with_lora_adapter(workspace, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("SPECIALIZE_READ_ROOTS", str(tiny_model_dir.parent))
    m = load_model(str(tiny_model_dir), reuse=False)
    g1 = m.generate(MSGS, max_tokens=6)
    g2 = m.generate(MSGS, max_tokens=6)
    assert g1.text == g2.text  # greedy decoding is deterministic
    assert 0 < g1.completion_tokens <= 6 and g1.prompt_tokens > 5

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    torch.manual_seed(0)
    adapter_dir = workspace / "adapter"
    peft_model.save_pretrained(adapter_dir)
    ma = load_model(str(tiny_model_dir), adapter="adapter", reuse=False)
    assert ma.describe()["adapter"].endswith("adapter")
    assert type(ma.model).__name__.startswith("Peft")
    ga = ma.generate(MSGS, max_tokens=6)
    assert isinstance(ga.text, str) and ga.completion_tokens > 0


@pytest.mark.slow
def test_embedded_gguf_backend(workspace):
    m = load_model("embedded:smollm2-135m", n_ctx=1024)
    g = m.generate([{"role": "user", "content": "Say hello."}], max_tokens=8)
    assert g.text.strip() and 0 < g.completion_tokens <= 8 and g.prompt_tokens > 0
    assert m.generate([{"role": "user", "content": "Say hello."}], max_tokens=8).text == g.text
    assert m.kind == "gguf"


def test_heavy_libraries_not_imported_for_api_models(workspace):
    import subprocess

    code = ("import sys; from specialize.evaluation.models import load_model; load_model('openai/x', api_base='http://127.0.0.1:9');"
            "print(any(k in sys.modules for k in ('torch','transformers','llama_cpp')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_ref_is_refused(workspace):
    with pytest.raises(InvalidInput):
        load_model("no-such-thing")
    with pytest.raises(InvalidInput):
        load_model("openai/x", adapter="a")


TRIAGE_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["category", "urgent"],
                 "properties": {"category": {"type": "string", "enum": ["billing", "bug_report", "other"]},
                                "urgent": {"type": "boolean"}}}


def test_litellm_requests_carry_the_schema_to_the_server(workspace):
    with FakeOpenAIServer(keep_bodies=True) as server:
        local = load_model("hosted_vllm/teacher", api_base=server.url)
        assert local.decoding_mode(TRIAGE_SCHEMA) == "schema_grammar"
        local.generate_many([MSGS, MSGS], max_tokens=8, schema=TRIAGE_SCHEMA)
        local.generate(MSGS, max_tokens=8)
        # a loopback api_base is taken to be llama.cpp's server, which reads a schema inside json_object
        assert [b.get("response_format") for b in server.counters.bodies] == [
            {"type": "json_object", "schema": TRIAGE_SCHEMA}, {"type": "json_object", "schema": TRIAGE_SCHEMA}, None]
        vllm_like = load_model("hosted_vllm/teacher", api_base=server.url, schema_style="json_schema")
        vllm_like.generate(MSGS, max_tokens=8, schema=TRIAGE_SCHEMA)
        assert server.counters.bodies[-1]["response_format"] == {
            "type": "json_schema", "json_schema": {"name": "answer", "schema": TRIAGE_SCHEMA}}


def test_transformers_backend_refuses_constrained_decoding(workspace, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("SPECIALIZE_READ_ROOTS", str(tiny_model_dir.parent))
    m = load_model(str(tiny_model_dir), reuse=False)
    with pytest.raises(InvalidInput) as err:
        m.generate_many([MSGS], max_tokens=4, schema=TRIAGE_SCHEMA)
    assert "GGUF" in err.value.fix
    assert m.decoding_mode(None) == "unconstrained"


@pytest.mark.slow
def test_embedded_gguf_answers_fit_the_schema_when_constrained(workspace):
    import json

    import jsonschema

    from specialize.runtime.workspace import resolve_path

    task_dir = "builtin:tasks/support-triage"
    schema = json.loads(resolve_path(f"{task_dir}/schema.json", arg="s").read_text())
    system = resolve_path(f"{task_dir}/system_prompt.txt", arg="s").read_text()
    rows = [json.loads(line) for line in
            resolve_path(f"{task_dir}/eval/golden.jsonl", arg="s").read_text().splitlines()[:3]]
    m = load_model("embedded:smollm2-135m", n_ctx=1024, n_threads=1)
    assert m.decoding_mode(schema) == "schema_grammar"
    convs = [[{"role": "system", "content": system}, r["messages"][0]] for r in rows]
    gens = m.generate_many(convs, max_tokens=48, schema=schema)
    for g in gens:
        assert not isinstance(g, Exception)
        jsonschema.validate(json.loads(g.text), schema)  # parses, and every field is allowed by the schema
