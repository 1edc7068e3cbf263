"""The CPU training path: bf16 only on CPUs with bfloat16 hardware, and a loss that projects only the answer
positions yet equals the textbook loss over full logits."""

from __future__ import annotations

import pytest

from specialize.training.method import resolve_method
from specialize.training.recipe import Recipe
from tests.helpers.cpu import cpu_flags, expected_cpu_method


def test_cpu_method_uses_bf16_only_with_bf16_hardware():
    assert resolve_method(Recipe(), cuda=False, bf16_ok=False).name == "lora-fp32-cpu"
    fast = resolve_method(Recipe(), cuda=False, bf16_ok=True)
    assert fast.name == "lora-bf16-cpu" and fast.bf16 is True and fast.dtype == "float32"
    assert resolve_method(Recipe(bf16=False), cuda=False, bf16_ok=True).name == "lora-fp32-cpu"
    with pytest.raises(Exception, match="bfloat16 hardware"):
        resolve_method(Recipe(bf16=True), cuda=False, bf16_ok=False)


def test_cpu_bf16_detection_matches_the_cpu_flags():
    if not cpu_flags():
        pytest.skip("no /proc/cpuinfo flags on this machine")
    got = resolve_method(Recipe(), cuda=False)
    assert got.name == expected_cpu_method() and got.bf16 is (got.name == "lora-bf16-cpu"), got


def _batch(tok, n_prompt_tokens_masked=True):
    import torch

    rows = ["The invoice for my account was charged twice.", "I cannot log in after the reset, please help now."]
    enc = tok(rows, return_tensors="pt", padding=True)
    labels = enc["input_ids"].clone()
    labels[:, :5] = -100                              # the "prompt": no loss there
    labels[enc["attention_mask"] == 0] = -100         # padding
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}


def test_selective_head_loss_and_gradients_equal_the_full_logits_loss(tiny_model_dir):
    import torch
    import torch.nn.functional as F
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from specialize.training.common import lora_config
    from specialize.training.cpu_head import selective_head_trainer, supports_selective_head
    from specialize.training.recipe import load_recipe

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert supports_selective_head(base)
    model = get_peft_model(base, lora_config(load_recipe(overrides={"lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0})))
    for name, p in model.named_parameters():  # non-zero LoRA B so the adapter changes the output
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)
    batch = _batch(tok)

    # Reference: the model's full logits, shifted, cross-entropy over the labelled positions.
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1),
                          ignore_index=-100)
    ref.backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()

    class _Base:  # the trainer's base class: only compute_loss is used here
        _metrics = {"train": {"mean_token_accuracy": [], "num_tokens": []}, "eval": {"mean_token_accuracy": []}}
        _total_train_tokens = 0

    trainer = selective_head_trainer(_Base)()
    model.train()
    loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert torch.allclose(p.grad, ref_grads[n], atol=1e-6, rtol=1e-4), n
    # token accuracy logged from the same positions, checked against argmax of the full logits
    mask = batch["labels"][:, 1:] != -100
    want = (logits[:, :-1].argmax(-1)[mask] == batch["labels"][:, 1:][mask]).float().mean().item()
    assert trainer._metrics["train"]["mean_token_accuracy"][-1] == pytest.approx(want)
    assert trainer._total_train_tokens == int(batch["attention_mask"].sum())


def test_models_that_scale_their_logits_keep_trls_head():
    from types import SimpleNamespace

    from specialize.training.cpu_head import supports_selective_head

    class _M:
        base_model_prefix = "model"
        model = object()

        def __init__(self, **cfg):
            self.config = SimpleNamespace(**cfg)

        def get_output_embeddings(self):
            return object()

    assert supports_selective_head(_M())
    assert not supports_selective_head(_M(final_logit_softcapping=30.0))
    assert not supports_selective_head(_M(logits_scaling=0.5))
