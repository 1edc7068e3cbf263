"""The recipe's CPU knobs: LoRA on the top layers only (backprop stops below them) and length-grouped batches."""

from __future__ import annotations

import pytest

from specialize.training.common import adapted_layers, common_args, lora_config
from specialize.training.method import resolve_method
from specialize.training.recipe import load_recipe


class _Cfg:
    num_hidden_layers = 6


def test_adapted_layers_are_the_last_n():
    assert adapted_layers(load_recipe(overrides={"lora_layers": 2}), _Cfg()) == [4, 5]
    assert adapted_layers(load_recipe(), _Cfg()) is None                      # default: every layer
    assert adapted_layers(load_recipe(overrides={"lora_layers": 6}), _Cfg()) is None  # all of them = every layer
    assert adapted_layers(load_recipe(overrides={"lora_layers": 60}), _Cfg()) is None


def _layers_differentiated(model_dir, lora_layers):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    recipe = load_recipe(overrides={"lora_layers": lora_layers})
    peft_model = get_peft_model(model, lora_config(recipe, model.config))
    trainable = [name for name, p in peft_model.named_parameters() if p.requires_grad]
    seen: dict[int, bool] = {}

    def hook(idx):
        def record(module, grad_in, grad_out):
            seen[idx] = True
        return record

    for i, layer in enumerate(peft_model.base_model.model.model.layers):
        layer.register_full_backward_hook(hook(i))
    ids = torch.randint(0, model.config.vocab_size, (2, 12))
    peft_model(input_ids=ids, labels=ids).loss.backward()
    return model.config.num_hidden_layers, trainable, seen


def test_top_layer_lora_trains_only_the_top_and_stops_backprop_there(tiny_model_dir):
    n, trainable, seen = _layers_differentiated(tiny_model_dir, 1)
    assert n >= 2
    assert trainable and all(f"layers.{n - 1}." in name and "lora_" in name for name in trainable), trainable
    assert seen.get(n - 1) is True          # the adapted layer is differentiated
    assert all(i not in seen for i in range(n - 1))  # nothing below it: the backward pass stopped there
    n_all, trainable_all, seen_all = _layers_differentiated(tiny_model_dir, None)  # control: every layer
    assert sorted(seen_all) == list(range(n_all)) and len(trainable_all) > len(trainable)


@pytest.mark.parametrize("flag,strategy", [(True, "group_by_length"), (False, "random")])
def test_group_by_length_picks_the_length_grouped_sampler(tmp_path, flag, strategy):
    recipe = load_recipe(overrides={"group_by_length": flag})
    args = common_args(recipe, resolve_method(recipe), tmp_path, has_eval=False)
    assert args["train_sampling_strategy"] == strategy
