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
